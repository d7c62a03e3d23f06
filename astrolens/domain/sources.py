"""How a source plans and reports its work, independent of how it talks to the network."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from astrolens.domain.sky import SkyPosition


class SourceState(enum.StrEnum):
    IDLE = "idle"
    ACTIVE = "active"
    OFFLINE = "offline"  # the network is unreachable
    UNAVAILABLE = "unavailable"  # the circuit breaker is open; retry_at says when
    DISABLED = "disabled"  # switched off by the user
    EXHAUSTED = "exhausted"  # nothing new to fetch (a folder fully scanned)
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    source_id: str
    state: SourceState
    message: str = ""
    retry_at: datetime | None = None
    fetched: int = 0
    failed: int = 0

    def describe(self) -> str:
        if self.state is SourceState.UNAVAILABLE and self.retry_at is not None:
            return f"unavailable, retrying at {self.retry_at:%H:%M}" + (
                f" ({self.message})" if self.message else ""
            )
        return self.state.value + (f": {self.message}" if self.message else "")


@dataclass(frozen=True, slots=True)
class FetchTask:
    """One unit of work a source plans: a URL or a path, with a stable cursor key.

    `uri` identifies the image: a task whose uri is already stored is never fetched again.
    """

    source_id: str
    uri: str
    cursor: str
    sky: SkyPosition | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def task_to_json(task: FetchTask) -> str:
    """A task as stored with a temporary quarantine, so it can be fetched again later."""
    sky = [task.sky.ra_deg, task.sky.dec_deg] if task.sky is not None else None
    body = {"source_id": task.source_id, "uri": task.uri, "cursor": task.cursor, "sky": sky}
    return json.dumps({**body, "meta": task.meta}, default=str, sort_keys=True)


def task_from_json(text: str) -> FetchTask | None:
    try:
        data = json.loads(text)
        sky = data.get("sky")
        return FetchTask(
            source_id=str(data["source_id"]),
            uri=str(data["uri"]),
            cursor=str(data["cursor"]),
            sky=SkyPosition(float(sky[0]), float(sky[1])) if sky else None,
            meta=dict(data.get("meta") or {}),
        )
    except (ValueError, KeyError, TypeError, IndexError):
        return None  # written by another version: the source plans it again if it can
