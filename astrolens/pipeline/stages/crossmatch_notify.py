"""The pipeline's last stage: ask the catalogs about a candidate, store their answers, say so,
and notify the anomalies of one scan (or discovery cycle) together, once it ends.

The one place where a candidate is cross-matched (search radius, query, one transaction for
every service's answer): the discovery cycle, the agent's retry and `astrolens crossref` all
go through `CrossMatchNotifyStage.ask`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CrossMatch, search_radius_arcsec
from astrolens.domain.errors import AstroLensError
from astrolens.domain.events import CatalogChecked, Event
from astrolens.domain.ports import CrossMatcher, Notifier, Repository
from astrolens.domain.scoring import Verdict
from astrolens.pipeline.executors import Executors, run_in
from astrolens.pipeline.stages.handoff import MatchQueue, MatchRequest

log = logging.getLogger(__name__)

# Earlier failures retried per cycle, at most.
PENDING_PER_CYCLE = 200


class CrossMatchNotifyStage:
    def __init__(
        self,
        *,
        repository: Repository,
        executors: Executors,
        emit: Callable[[Event], None],
        crossmatcher: CrossMatcher | None = None,
        notifier: Notifier | None = None,
        crossmatch: bool = True,
        notify: bool = True,
    ) -> None:
        self.repo = repository
        self.ex = executors
        self.emit = emit
        self.crossmatcher = crossmatcher if crossmatch else None
        self.notifier = notifier if notify else None
        self._held: list[Candidate] = []

    async def ask(self, candidate: Candidate) -> tuple[Candidate, list[CrossMatch]]:
        """Ask the catalogs about a candidate with a sky position and store every service's
        answer in one transaction, which returns the candidate as it now stands (nothing is
        read back); says so with CatalogChecked. Without a position or a cross-matcher there
        is nothing to ask: the candidate as given, and no answers."""
        sky = candidate.image.provenance.sky
        if self.crossmatcher is None or sky is None:
            return candidate, []
        radius = search_radius_arcsec(candidate.image.provenance.pixel_scale_arcsec, None)
        results = await self.crossmatcher.crossmatch(sky, radius)
        refreshed = await run_in(self.ex.db, self.repo.save_crossmatches, candidate.id, results)
        if refreshed is not None:
            candidate = refreshed
            self.emit(CatalogChecked(candidate.id, candidate.catalog_verdict, candidate))
        return candidate, results

    async def check(self, candidate: Candidate, *, notify: bool) -> Candidate:
        """Cross-match one candidate (when it has a sky position) and hold it for the scan's
        notification when it is an unlabelled anomaly. Returns it as stored now."""
        try:
            candidate, _ = await self.ask(candidate)
        finally:
            # Held to the end of the scan (one notification per scan, not one per image),
            # also when the catalogs failed: the anomaly is no less an anomaly.
            if notify and candidate.result.verdict is Verdict.ANOMALY and candidate.label is None:
                self._held.append(candidate)
        return candidate

    async def enqueue_pending(self, queue: MatchQueue) -> None:
        """Queue the retries of earlier failures: the user was notified (or not) when they
        were found, so they are not held for this cycle's notification."""
        if self.crossmatcher is None:
            return
        pending = await run_in(self.ex.db, self.repo.pending_crossmatches, PENDING_PER_CYCLE)
        for candidate in pending:
            await queue.put(MatchRequest(candidate, False))

    async def run(self, queue: MatchQueue) -> None:
        """The cross-match worker: runs until cancelled; a failed check is logged, not fatal."""
        while True:
            candidate, notify = await queue.get()
            try:
                await self.check(candidate, notify=notify)
            except AstroLensError as exc:
                log.warning("cross-match of %d failed: %s", candidate.id, exc)
            except Exception:
                log.exception("cross-match of %d failed", candidate.id)
            finally:
                queue.task_done()

    @property
    def held(self) -> int:
        return len(self._held)

    async def finish(self, scanned: str) -> int:
        """Notify the anomalies held since the last call, as one; returns how many."""
        found, self._held = self._held, []
        if not found or self.notifier is None:
            return 0
        try:
            await self.notifier.notify_candidates(found, scanned=scanned)
        except Exception:  # a notification server problem must not fail the cycle
            log.exception("could not notify %d anomalies", len(found))
        return len(found)
