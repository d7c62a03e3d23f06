"""The pipeline's last stage: ask the catalogs about a candidate, store their answers, say so,
and notify the anomalies of one scan (or discovery cycle) together, once it ends.

A stage object (not a method of the pipeline) so that it is tested on its own with a real
cross-matcher and a real notifier, and reused by whatever else checks candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import search_radius_arcsec
from astrolens.domain.events import CatalogChecked, Event
from astrolens.domain.ports import CrossMatcher, Notifier, Repository
from astrolens.domain.scoring import Verdict
from astrolens.pipeline.executors import Executors, run_in

log = logging.getLogger(__name__)


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

    async def check(self, candidate: Candidate, *, notify: bool) -> Candidate:
        """Cross-match one candidate (when it has a sky position) and hold it for the scan's
        notification when it is an unlabelled anomaly. Returns it as stored now."""
        sky = candidate.image.provenance.sky
        try:
            if self.crossmatcher is not None and sky is not None:
                radius = search_radius_arcsec(candidate.image.provenance.pixel_scale_arcsec, None)
                results = await self.crossmatcher.crossmatch(sky, radius)
                # Every service's answer in one transaction, which returns the candidate
                # as it now stands: nothing is read back.
                refreshed = await run_in(
                    self.ex.db, self.repo.save_crossmatches, candidate.id, results
                )
                if refreshed is not None:
                    candidate = refreshed
                    self.emit(CatalogChecked(candidate.id, candidate.catalog_verdict))
        finally:
            # Held to the end of the scan (one notification per scan, not one per image),
            # also when the catalogs failed: the anomaly is no less an anomaly.
            if notify and candidate.result.verdict is Verdict.ANOMALY and candidate.label is None:
                self._held.append(candidate)
        return candidate

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
