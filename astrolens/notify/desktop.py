"""Native notifications through desktop-notifier (D-Bus on Linux, Notification Center on
macOS, WinRT toasts on Windows).

One notification per anomaly with its thumbnail (where the platform shows attachments), its
score and the catalog verdict; a burst becomes one grouped notification. "Review" (or a click)
calls `on_review(image_id)`; "Not interesting" calls `on_dismiss(image_id)`, which the app
turns into a false-positive label without opening anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.resources import resource_path
from astrolens.notify.throttle import NotificationThrottle, Outgoing

log = logging.getLogger(__name__)

APP_NAME = "AstroLens"
ICON = resource_path("icons", "astrolens.svg")  # works inside the desktop bundle too
FLUSH_DELAY_S = 1.5  # candidates of one cycle arrive within this: they are judged together

CATALOG_LINE = {
    CatalogVerdict.KNOWN_OBJECT: "Catalogs: a known object",
    CatalogVerdict.KNOWN_FIELD: "Catalogs: catalogued but unclassified",
    CatalogVerdict.POSSIBLE_DISCOVERY: "Catalogs: nothing known here — possible discovery",
    CatalogVerdict.PENDING: "Catalogs: being checked",
    CatalogVerdict.INCOMPLETE: "Catalogs: check incomplete (a service failed)",
}

Callback = Callable[[int], Any]


def _name(c: Candidate) -> str:
    return c.image.provenance.uri.rstrip("/").rsplit("/", 1)[-1]


def single_text(c: Candidate) -> tuple[str, str]:
    r = c.result
    title = f"Anomaly #{c.id}: {_name(c)[:40]}"
    body = f"Score {r.score:.2f} · {r.explain()}\n{CATALOG_LINE[c.catalog_verdict]}"
    return title, body


def group_text(cands: Sequence[Candidate]) -> tuple[str, str]:
    best = min(cands, key=lambda c: c.result.p_value)
    discoveries = sum(1 for c in cands if c.catalog_verdict is CatalogVerdict.POSSIBLE_DISCOVERY)
    title = f"{len(cands)} new anomalies"
    body = f"Strongest: #{best.id} {_name(best)[:32]} (p={best.result.p_value:.2g})"
    if discoveries:
        body += f"\n{discoveries} not in any catalog"
    return title, body


class DesktopNotifier:
    """Implements astrolens.domain.ports.Notifier."""

    def __init__(
        self,
        on_review: Callback | None = None,
        on_dismiss: Callback | None = None,
        *,
        max_individual: int = 3,
        window_s: float = 60.0,
        flush_delay_s: float = FLUSH_DELAY_S,
    ) -> None:
        from desktop_notifier import DesktopNotifier as Backend
        from desktop_notifier import Icon

        self.on_review = on_review
        self.on_dismiss = on_dismiss
        self.flush_delay_s = flush_delay_s
        self._backend = Backend(app_name=APP_NAME, app_icon=Icon(path=ICON))
        self._throttle: NotificationThrottle[Candidate] = NotificationThrottle(
            max_individual=max_individual, window_s=window_s
        )
        self._timer: asyncio.TimerHandle | None = None
        self._capabilities: frozenset[Any] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent: list[Outgoing[Candidate]] = []

    async def available(self) -> tuple[bool, str]:
        """Whether a notification server answers. desktop-notifier's send() only logs when
        none does, so this asks for the server's capabilities and reports the failure."""
        try:
            self._capabilities = await self._backend.get_capabilities()
        except Exception as exc:
            return False, f"no notification server: {type(exc).__name__}: {exc}"
        return True, f"notifications via {type(self._backend._backend).__name__}"

    async def notify_candidates(self, candidates: Sequence[Candidate]) -> None:
        if not candidates:
            return
        self._throttle.offer(candidates, time.monotonic())
        self._schedule(self.flush_delay_s)

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            return  # a flush is already due; it takes everything pending
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._flush_now)

    def _flush_now(self) -> None:
        self._timer = None
        batches, again_at = self._throttle.flush(time.monotonic())
        for batch in batches:
            task = asyncio.ensure_future(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if again_at is not None:
            self._schedule(max(0.1, again_at - time.monotonic()))

    async def flush(self) -> None:
        """Send what is held now (used at quit and by tests), and wait for it."""
        if self._timer is not None:
            self._timer.cancel()
        self._flush_now()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _send(self, batch: Outgoing[Candidate]) -> None:
        from desktop_notifier import Attachment, Button, Capability

        caps = self._capabilities
        if caps is None:
            ok, why = await self.available()
            if not ok:
                log.warning("anomaly notification not shown: %s", why)
                return
            caps = self._capabilities or frozenset()
        items = batch.items
        lead = min(items, key=lambda c: c.result.p_value)
        title, body = group_text(items) if batch.grouped else single_text(lead)
        attachment = None
        thumb = lead.image.thumbnail_path
        if thumb and Capability.ATTACHMENT in caps:
            attachment = Attachment(path=Path(thumb))
        buttons = [Button(title="Review", on_pressed=lambda: self._review(lead.id))]
        if not batch.grouped:  # dismissing a group would label images the user never saw
            buttons.append(
                Button(title="Not interesting", on_pressed=lambda: self._dismiss(lead.id))
            )
        await self._backend.send(
            title=title,
            message=body,
            buttons=buttons,
            on_clicked=lambda: self._review(lead.id),
            attachment=attachment,
            thread="astrolens-anomalies",
        )
        self.sent.append(batch)
        log.info("notified %s", title)

    def _review(self, image_id: int) -> None:
        if self.on_review is not None:
            self.on_review(image_id)

    def _dismiss(self, image_id: int) -> None:
        if self.on_dismiss is not None:
            self.on_dismiss(image_id)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
