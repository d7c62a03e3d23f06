"""One calibrated scorer per image group, refitted as the reference grows.

Images are only judged against their own group (survey stamps against survey stamps, pictures
against pictures). Until a group has `min_reference` images there is no honest p-value, so its
images are buffered and scored transductively (each against the others) in one go.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from astrolens.domain.images import ImageGroup
from astrolens.domain.ports import AnomalyScorer, Matrix, Repository, ScorerStore
from astrolens.domain.scoring import Calibration, ScoreResult, Verdict
from astrolens.pipeline.executors import Executors, run_in

log = logging.getLogger(__name__)

ScorerFactory = Callable[[], AnomalyScorer]


@dataclass
class _GroupState:
    scorer: AnomalyScorer | None = None
    calibration: Calibration | None = None
    new_normals_since_fit: int = 0
    pending_ids: list[int] = field(default_factory=list)
    pending_vectors: list[Matrix] = field(default_factory=list)
    pending_keys: list[str] = field(default_factory=list)


class ScoringBank:
    def __init__(
        self,
        factory: ScorerFactory,
        repository: Repository,
        executors: Executors,
        model_id: str,
        *,
        min_reference: int = 20,
        reference_limit: int = 5000,
        refit_every: int = 200,
        saved: ScorerStore | None = None,
    ) -> None:
        self._factory = factory
        self._saved = saved
        self._repo = repository
        self._ex = executors
        self.model_id = model_id
        self.min_reference = min_reference
        self.reference_limit = reference_limit
        self.refit_every = refit_every
        self._groups: dict[ImageGroup, _GroupState] = {}
        self._refits: dict[ImageGroup, asyncio.Task[None]] = {}

    def _state(self, group: ImageGroup) -> _GroupState:
        return self._groups.setdefault(group, _GroupState())

    def calibration(self, group: ImageGroup) -> Calibration | None:
        return self._state(group).calibration

    async def ensure_fitted(
        self, group: ImageGroup, *, force: bool = False, background: bool = False
    ) -> bool:
        """Fit the group's scorer on the stored reference if it is large enough.
        `background`: fit on the refit thread (the previous fit keeps scoring meanwhile)."""
        state = self._state(group)
        if state.scorer is not None and not force:
            return True
        if not force and await self._restore(group, state):
            return True
        ref_ids, reference = await run_in(
            self._ex.db, self._repo.reference_vectors, self.model_id, group, self.reference_limit
        )
        # Buffered images are stored unscored, and the store counts unscored images as
        # reference: they must not become the reference that judges them.
        pending = set(state.pending_ids)
        if pending:
            keep = [i for i, rid in enumerate(ref_ids) if rid not in pending]
            reference = reference[keep] if keep else reference[:0]
        if len(reference) < self.min_reference:
            return False
        scorer = self._factory()
        executor = (self._ex.refit or self._ex.ml) if background else self._ex.ml
        calibration = await run_in(
            executor, scorer.fit, reference, group=group.value, model_id=self.model_id
        )
        state.calibration = await run_in(self._ex.db, self._repo.save_calibration, calibration)
        state.scorer = scorer
        state.new_normals_since_fit = 0
        log.info(
            "calibrated %s on %d reference images (version %d)",
            group.value,
            len(reference),
            state.calibration.version,
        )
        if self._saved is not None:
            await run_in(self._ex.io, self._saved.save, group, scorer, state.calibration)
        return True

    async def _restore(self, group: ImageGroup, state: _GroupState) -> bool:
        """Load the scorer saved for the group's latest stored calibration, with the count
        of normals it has judged since (the refit schedule survives a restart)."""
        if self._saved is None:
            return False
        latest = await run_in(self._ex.db, self._repo.latest_calibration, self.model_id, group)
        if latest is None or latest.bootstrap:
            return False
        scorer = await run_in(self._ex.io, self._saved.load, group, latest, self._factory())
        if scorer is None:
            return False
        judged = await run_in(
            self._ex.db, self._repo.count_normal_scores, self.model_id, latest.version
        )
        state.scorer, state.calibration = scorer, latest
        state.new_normals_since_fit = judged
        log.info("loaded the %s scorer of calibration %d", group.value, latest.version)
        if judged >= self.refit_every:
            return await self.ensure_fitted(group, force=True)
        return True

    async def score(self, group: ImageGroup, vectors: Matrix) -> list[ScoreResult] | None:
        """Scores for a batch, or None when the group is still bootstrapping."""
        if not await self.ensure_fitted(group):
            return None
        state = self._state(group)
        assert state.scorer is not None
        results = await run_in(self._ex.ml, state.scorer.score, vectors)
        results = self._stamp_version(results, state.calibration)
        state.new_normals_since_fit += sum(r.verdict is Verdict.NORMAL for r in results)
        if state.new_normals_since_fit >= self.refit_every and group not in self._refits:
            # On the refit thread: the next batches are judged by the current fit until the
            # new one is ready, so a batch costs what it is, not a refit of the archive.
            self._refits[group] = asyncio.create_task(
                self._refit(group), name=f"astrolens-refit-{group.value}"
            )
        return results

    async def _refit(self, group: ImageGroup) -> None:
        try:
            await self.ensure_fitted(group, force=True, background=True)
        except Exception:  # a failed refit keeps the previous fit; the next batch retries
            log.exception("background refit of %s failed", group.value)
        finally:
            self._refits.pop(group, None)

    async def cancel_refits(self, timeout_s: float) -> None:
        """Stop waiting for refits in flight (the pipeline is stopping); bounded."""
        tasks = list(self._refits.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    async def settle(self) -> None:
        """Wait for the refits in flight (a cycle ends with its reference model saved)."""
        while self._refits:
            await asyncio.gather(*list(self._refits.values()), return_exceptions=True)

    async def recover_unscored(self) -> int:
        """Re-buffer images a crash left embedded but unscored (their bootstrap never ran)."""
        pending = {i for s in self._groups.values() for i in s.pending_ids}
        rows = await run_in(self._ex.db, self._repo.unscored_embeddings, self.model_id)
        recovered = 0
        for image_id, group, vector, key in rows:
            if image_id not in pending:
                self.defer(group, image_id, vector, key)
                recovered += 1
        if recovered:
            log.info("recovered %d stored but unscored images", recovered)
        return recovered

    def defer(self, group: ImageGroup, image_id: int, vector: Matrix, key: str) -> None:
        """Buffer an image of a bootstrapping group; `key` (its content hash) orders the
        buffer so a batch is cross-fitted the same way whatever order it arrived in."""
        state = self._state(group)
        state.pending_ids.append(image_id)
        state.pending_vectors.append(vector)
        state.pending_keys.append(key)

    def pending(self, group: ImageGroup) -> int:
        return len(self._state(group).pending_ids)

    def groups_with_pending(self) -> list[ImageGroup]:
        return [g for g, s in self._groups.items() if s.pending_ids]

    async def flush(self, group: ImageGroup) -> list[tuple[int, ScoreResult]]:
        """Score the buffered images of a bootstrapping group, each against the others."""
        state = self._state(group)
        if not state.pending_ids:
            return []
        # Images arrive in a nondeterministic order (concurrent fetch and decode); sorting by
        # content makes the cross-fitting folds, and so the verdicts, the same on every run.
        order = sorted(range(len(state.pending_ids)), key=lambda i: state.pending_keys[i])
        ids = [state.pending_ids[i] for i in order]
        vectors = np.stack([state.pending_vectors[i] for i in order]).astype(np.float32)
        state.pending_ids, state.pending_vectors, state.pending_keys = [], [], []
        pending = set(ids)
        ref_ids, reference = await run_in(
            self._ex.db, self._repo.reference_vectors, self.model_id, group, self.reference_limit
        )
        # The buffered images are stored unscored, so the reference query returns them too:
        # they must not be their own reference.
        keep = [i for i, rid in enumerate(ref_ids) if rid not in pending]
        reference = reference[keep] if len(keep) else reference[:0]
        scorer = self._factory()
        results = await run_in(
            self._ex.ml,
            scorer.score_cross_fitted,
            vectors,
            reference,
            group=group.value,
            model_id=self.model_id,
        )
        calibration = scorer.calibration  # type: ignore[attr-defined]
        saved = await run_in(self._ex.db, self._repo.save_calibration, calibration)
        return list(zip(ids, self._stamp_version(results, saved), strict=True))

    async def fit_after_flush(self, group: ImageGroup) -> None:
        """Fit (and save) the scorer the group's next batch would otherwise fit on its first
        image: done once here, the next run loads it instead of refitting the archive."""
        if self._saved is not None and not self.pending(group):
            await self.ensure_fitted(group, force=True)

    @staticmethod
    def _stamp_version(
        results: list[ScoreResult], calibration: Calibration | None
    ) -> list[ScoreResult]:
        """Scores point at the stored calibration (the store numbers versions globally)."""
        if calibration is None:
            return results
        return [dataclasses.replace(r, calibration_version=calibration.version) for r in results]

    async def recalibrate_all(self) -> list[Calibration]:
        done = []
        for group in ImageGroup:
            if await self.ensure_fitted(group, force=True):
                cal = self._state(group).calibration
                if cal is not None:
                    done.append(cal)
        return done
