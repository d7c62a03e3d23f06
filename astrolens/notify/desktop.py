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
from typing import Any, assert_never

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.resources import resource_path
from astrolens.notify.throttle import NotificationThrottle, Outgoing

log = logging.getLogger(__name__)

APP_NAME = "AstroLens"
ICON = resource_path("icons", "astrolens.svg")  # works inside the desktop bundle too
FLUSH_DELAY_S = 1.5  # candidates of one cycle arrive within this: they are judged together


def catalog_line(verdict: CatalogVerdict) -> str:
    """What the catalogs said, in one line. A `match` with `assert_never`: a new verdict
    without its text fails the type check and the exhaustive test, not a user's notification
    (a dict lookup raised KeyError for NO_POSITION, so no picture without WCS was notified)."""
    match verdict:
        case CatalogVerdict.KNOWN_OBJECT:
            return "Catalogs: a known object"
        case CatalogVerdict.KNOWN_FIELD:
            return "Catalogs: catalogued but unclassified"
        case CatalogVerdict.POSSIBLE_DISCOVERY:
            return "Catalogs: nothing known here — possible discovery"
        case CatalogVerdict.PENDING:
            return "Catalogs: being checked"
        case CatalogVerdict.INCOMPLETE:
            return "Catalogs: check incomplete (a service failed)"
        case CatalogVerdict.NO_POSITION:
            return "Catalogs: not asked (the image has no sky position)"
        case _:
            assert_never(verdict)


Callback = Callable[[int], Any]


def strongest(cands: Sequence[Candidate]) -> Candidate:
    """The candidate a grouped notification names: the smallest p-value, and among equal
    p-values (conformal p-values tie in steps of 1/(n+1)) the highest score, which is the
    order the review queue's "most anomalous" uses. min() on the p-value alone picked the
    first of the ties, which could be a normal-looking image."""
    return min(cands, key=lambda c: (c.result.p_value, -c.result.score, c.id))


def single_text(c: Candidate) -> tuple[str, str]:
    r = c.result
    title = f"Anomaly #{c.id}: {c.image.display_name[:40]}"
    body = f"Score {r.score:.2f} · {r.explain()}\n{catalog_line(c.catalog_verdict)}"
    return title, body


def group_text(cands: Sequence[Candidate], scanned: str = "") -> tuple[str, str]:
    best = strongest(cands)
    discoveries = sum(1 for c in cands if c.catalog_verdict is CatalogVerdict.POSSIBLE_DISCOVERY)
    title = f"{len(cands)} new anomalies" + (f" in {scanned}" if scanned else "")
    body = f"Strongest: #{best.id} {best.image.display_name[:32]} (p={best.result.p_value:.2g})"
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
        # What each shown notification is about, so acting on it (or labelling its image in
        # the window) can close it: a notification the user already answered is clutter.
        self._shown: dict[str, tuple[int, ...]] = {}
        self._platform_ids: dict[str, Any] = {}

    async def available(self) -> tuple[bool, str]:
        """Whether a notification server answers. desktop-notifier's send() only logs when
        none does, so this asks for the server's capabilities and reports the failure."""
        try:
            self._capabilities = await self._backend.get_capabilities()
        except Exception as exc:
            return False, f"no notification server: {type(exc).__name__}: {exc}"
        return True, f"notifications via {type(self._backend._backend).__name__}"

    async def notify_candidates(self, candidates: Sequence[Candidate], scanned: str = "") -> None:
        """`scanned` set: these are all the anomalies of one finished scan (or cycle), shown
        as one notification that says what was scanned; the throttle is for the trickle."""
        if not candidates:
            return
        if scanned:
            task = asyncio.ensure_future(self._send(Outgoing(tuple(candidates)), scanned))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
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

    async def _send(self, batch: Outgoing[Candidate], scanned: str = "") -> None:
        from desktop_notifier import Attachment, Button, Capability

        caps = self._capabilities
        if caps is None:
            ok, why = await self.available()
            if not ok:
                log.warning("anomaly notification not shown: %s", why)
                return
            caps = self._capabilities or frozenset()
        items = batch.items
        lead = strongest(items)
        title, body = group_text(items, scanned) if batch.grouped else single_text(lead)
        attachment = None
        thumb = lead.image.thumbnail_path
        if thumb and Capability.ATTACHMENT in caps:
            attachment = Attachment(path=Path(thumb))
        buttons = [Button(title="Review", on_pressed=lambda: self._review(lead.id))]
        if not batch.grouped:  # dismissing a group would label images the user never saw
            buttons.append(
                Button(title="Not interesting", on_pressed=lambda: self._dismiss(lead.id))
            )
        ident = await self._backend.send(
            title=title,
            message=body,
            buttons=buttons,
            on_clicked=lambda: self._review(lead.id),
            attachment=attachment,
            thread="astrolens-anomalies",
        )
        self._shown[ident] = tuple(c.id for c in items)
        self._remember_platform_id(ident)
        self.sent.append(batch)
        log.info("notified %s", title)

    def _review(self, image_id: int) -> None:
        self._close_about(image_id)
        if self.on_review is not None:
            self.on_review(image_id)

    def _dismiss(self, image_id: int) -> None:
        self._close_about(image_id)
        if self.on_dismiss is not None:
            self.on_dismiss(image_id)

    def acted_on(self, image_id: int) -> None:
        """The user labelled this image (anywhere): its notification has done its job."""
        self._close_about(image_id)

    def _close_about(self, image_id: int) -> None:
        for ident, ids in list(self._shown.items()):
            if image_id in ids:
                del self._shown[ident]
                task = asyncio.ensure_future(self._clear(ident))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _clear(self, ident: str) -> None:
        # desktop-notifier 6.2's D-Bus backend forgets a notification's server id as soon as
        # one of its actions fires, so clear() can no longer close it (a KeyError), while
        # servers such as dunst keep it on screen after `dunstctl action`. Give the backend
        # the id back first (pinned version; elsewhere this is a no-op).
        ids = getattr(
            self._backend._backend, "_platform_to_interface_notification_identifier", None
        )
        platform_id = self._platform_ids.get(ident)
        if ids is not None and platform_id is not None and ident not in ids.inverse:
            ids[platform_id] = ident
        try:
            await self._backend.clear(ident)
        except Exception as exc:  # the server may have closed it already
            log.debug("could not close notification %s: %s", ident, exc)
        self._platform_ids.pop(ident, None)

    def _remember_platform_id(self, ident: str) -> None:
        ids = getattr(
            self._backend._backend, "_platform_to_interface_notification_identifier", None
        )
        if ids is not None and ident in ids.inverse:
            self._platform_ids[ident] = ids.inverse[ident]

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
