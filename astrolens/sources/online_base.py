"""What the four online sources share: a polite transport, a resumable cursor, a status."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, TypedDict

from astrolens.domain.cursors import CursorStore
from astrolens.domain.images import ImageGroup
from astrolens.domain.redaction import redact
from astrolens.domain.sources import FetchTask, SourceState, SourceStatus
from astrolens.sources.cursor import ResumableCursor
from astrolens.sources.http import Clock, DiskCache, HttpPolicy, PoliteTransport


def encode_position(*parts: Any) -> str:
    """Cursor positions are small JSON lists: readable in the database, ordered by the source."""
    return json.dumps(list(parts), separators=(",", ":"))


def decode_position(text: str | None, default: list[Any]) -> list[Any]:
    if not text:
        return list(default)
    try:
        value = json.loads(text)
    except ValueError:
        return list(default)
    if not isinstance(value, list) or len(value) != len(default):
        return list(default)  # a cursor from another version: start over (stored URIs are skipped)
    return value


class PoliteConfig:
    """Mixin for a source's config dataclass: its rate fields make the transport's policy."""

    max_requests: int
    period_s: float
    concurrency: int
    timeout_s: float

    def policy(self) -> HttpPolicy:
        return HttpPolicy(self.max_requests, self.period_s, self.concurrency, self.timeout_s)


class SourceConfig(Protocol):
    """What every online source's config offers the base class."""

    @property
    def enabled(self) -> bool: ...

    def policy(self) -> HttpPolicy: ...


class Wiring(TypedDict, total=False):
    """What the app (or a test) plugs into any online source, besides its config."""

    cursors: CursorStore | None
    cache_dir: Path | None
    clock: Clock | None
    transport: PoliteTransport | None


class OnlineSource:
    """Base for sources that talk HTTP. Subclasses implement plan() and fetch(), and take
    `(config=None, **wiring: Unpack[Wiring])`."""

    def __init__(
        self,
        source_id: str,
        group: ImageGroup,
        config: SourceConfig,
        *,
        cursors: CursorStore | None = None,
        cache_dir: Path | None = None,
        clock: Clock | None = None,
        transport: PoliteTransport | None = None,
    ) -> None:
        self._id = source_id
        self._group = group
        self.enabled = config.enabled
        policy = config.policy()
        cache = DiskCache(cache_dir / source_id) if cache_dir is not None else None
        self.transport = transport or PoliteTransport(source_id, policy, cache=cache, clock=clock)
        self.cursor = ResumableCursor(source_id, cursors)
        self.fetched = 0
        self.failed = 0
        # Failures since the last success, and the last reason: a source whose every request
        # failed is not "idle" even while its breaker is still closed.
        self.failing = 0
        self._last_error = ""
        self._note = ""  # e.g. "up to date" when a dated source has caught up

    @property
    def id(self) -> str:
        return self._id

    @property
    def group(self) -> ImageGroup:
        return self._group

    def status(self) -> SourceStatus:
        if not self.enabled:
            return SourceStatus(self._id, SourceState.DISABLED, "switched off in settings")
        state, message, retry_at = self.transport.state()
        if state in (SourceState.IDLE, SourceState.ACTIVE) and self.failing:
            plural = "s" if self.failing > 1 else ""
            state = SourceState.ERROR
            message = f"last {self.failing} request{plural} failed: {self._last_error}"
        elif state is SourceState.IDLE and self._note:
            message = self._note
        return SourceStatus(
            self._id, state, message, retry_at, fetched=self.fetched, failed=self.failed
        )

    async def mark_done(self, task: FetchTask) -> None:
        await self.cursor.done(task.cursor)

    async def aclose(self) -> None:
        await self.cursor.flush()
        await self.transport.aclose()

    @contextlib.contextmanager
    def _counting(self) -> Iterator[None]:
        """Counts the block toward the fetched/failed tallies the tray shows; an exception
        counts as a failure and goes on."""
        try:
            yield
        except Exception as exc:
            self.failed += 1
            self.failing += 1
            self._last_error = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
        self.fetched += 1
        self.failing = 0
