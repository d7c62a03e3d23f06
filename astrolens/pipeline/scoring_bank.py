"""One calibrated scorer per kind of image, refitted as the reference grows.

Images are only judged against their own kind (domain/lookalike.py: group, survey or
instrument, stamp or whole, colour, bands, pixel scale), so a folder from a survey the archive
has never seen is not flagged wholesale against another survey's reference. Until a kind has
`min_reference` stored references there is no honest p-value: its images are buffered and
ranked within their batch (each against the others), capped at near-miss, and the bank says
"new kind of image: no reference yet (n of N)".
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from astrolens.domain.images import ImageGroup
from astrolens.domain.lookalike import describe_key, new_kind_message
from astrolens.domain.ports import AnomalyScorer, Matrix, Repository
from astrolens.domain.scoring import Calibration, ScoreResult, Verdict
from astrolens.pipeline.executors import Executors, run_in

log = logging.getLogger(__name__)

ScorerFactory = Callable[[], AnomalyScorer]
# (group, look-alike kind key); kind None = the whole group (images with no recorded kind)
ScoringKey = tuple[ImageGroup, str | None]


def _key(group: ImageGroup | ScoringKey) -> ScoringKey:
    return group if isinstance(group, tuple) else (group, None)


@dataclass(frozen=True, slots=True)
class NewKindNote:
    """A batch of a kind that had no calibrated reference, ranked within itself."""

    kind: str
    references: int
    needed: int
    batch: int

    def message(self) -> str:
        label = describe_key(self.kind) if self.kind else "images"
        return (
            f"{new_kind_message(self.references, self.needed)} for {label}: "
            f"{self.batch} ranked within this batch, none called an anomaly"
        )


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
    ) -> None:
        self._factory = factory
        self._repo = repository
        self._ex = executors
        self.model_id = model_id
        self.min_reference = min_reference
        self.reference_limit = reference_limit
        self.refit_every = refit_every
        self._groups: dict[ScoringKey, _GroupState] = {}
        self.new_kind_notes: list[NewKindNote] = []

    def _state(self, group: ImageGroup | ScoringKey) -> _GroupState:
        return self._groups.setdefault(_key(group), _GroupState())

    def calibration(self, group: ImageGroup | ScoringKey) -> Calibration | None:
        return self._state(group).calibration

    async def _reference(self, key: ScoringKey) -> tuple[list[int], Matrix]:
        group, kind = key
        return await run_in(
            self._ex.db,
            self._repo.reference_vectors,
            self.model_id,
            group,
            self.reference_limit,
            kind,
        )

    async def ensure_fitted(self, group: ImageGroup | ScoringKey, *, force: bool = False) -> bool:
        """Fit the kind's scorer on the stored reference if it is large enough."""
        key = _key(group)
        group = key[0]
        state = self._state(key)
        if state.scorer is not None and not force:
            return True
        ref_ids, reference = await self._reference(key)
        # Buffered images are stored unscored, and the store counts unscored images as
        # reference: they must not become the reference that judges them.
        pending = set(state.pending_ids)
        if pending:
            keep = [i for i, rid in enumerate(ref_ids) if rid not in pending]
            reference = reference[keep] if keep else reference[:0]
        if len(reference) < self.min_reference:
            return False
        scorer = self._factory()
        calibration = await run_in(
            self._ex.ml, scorer.fit, reference, group=group.value, model_id=self.model_id
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
        return True

    async def score(
        self, group: ImageGroup | ScoringKey, vectors: Matrix
    ) -> list[ScoreResult] | None:
        """Scores for a batch, or None when the kind is still bootstrapping."""
        if not await self.ensure_fitted(group):
            return None
        state = self._state(group)
        assert state.scorer is not None
        results = await run_in(self._ex.ml, state.scorer.score, vectors)
        results = self._stamp_version(results, state.calibration)
        state.new_normals_since_fit += sum(r.verdict is Verdict.NORMAL for r in results)
        if state.new_normals_since_fit >= self.refit_every:
            await self.ensure_fitted(group, force=True)
        return results

    async def recover_unscored(self) -> int:
        """Re-buffer images a crash left embedded but unscored (their bootstrap never ran)."""
        pending = {i for s in self._groups.values() for i in s.pending_ids}
        rows = await run_in(self._ex.db, self._repo.unscored_embeddings, self.model_id)
        rows = [row for row in rows if row[0] not in pending]
        kinds = await run_in(self._ex.db, self._repo.kinds_of, [row[0] for row in rows])
        recovered = 0
        for image_id, group, vector, key in rows:
            self.defer((group, kinds.get(image_id)), image_id, vector, key)
            recovered += 1
        if recovered:
            log.info("recovered %d stored but unscored images", recovered)
        return recovered

    def defer(
        self, group: ImageGroup | ScoringKey, image_id: int, vector: Matrix, key: str
    ) -> None:
        """Buffer an image of a bootstrapping group; `key` (its content hash) orders the
        buffer so a batch is cross-fitted the same way whatever order it arrived in."""
        state = self._state(group)
        state.pending_ids.append(image_id)
        state.pending_vectors.append(vector)
        state.pending_keys.append(key)

    def pending(self, group: ImageGroup | ScoringKey) -> int:
        return len(self._state(group).pending_ids)

    def groups_with_pending(self) -> list[ScoringKey]:
        return [g for g, s in self._groups.items() if s.pending_ids]

    async def flush(self, group: ImageGroup | ScoringKey) -> list[tuple[int, ScoreResult]]:
        """Score the buffered images of a bootstrapping kind, each against the others.

        With fewer than `min_reference` stored references of the kind, the batch is ranked
        within itself: no image of it can be an anomaly (nothing calibrated says how rare it
        is), only the top of the batch becomes a near-miss, and a NewKindNote says so."""
        key = _key(group)
        group = key[0]
        state = self._state(key)
        if not state.pending_ids:
            return []
        # Images arrive in a nondeterministic order (concurrent fetch and decode); sorting by
        # content makes the cross-fitting folds, and so the verdicts, the same on every run.
        order = sorted(range(len(state.pending_ids)), key=lambda i: state.pending_keys[i])
        ids = [state.pending_ids[i] for i in order]
        vectors = np.stack([state.pending_vectors[i] for i in order]).astype(np.float32)
        state.pending_ids, state.pending_vectors, state.pending_keys = [], [], []
        pending = set(ids)
        ref_ids, reference = await self._reference(key)
        # The buffered images are stored unscored, so the reference query returns them too:
        # they must not be their own reference.
        keep = [i for i, rid in enumerate(ref_ids) if rid not in pending]
        reference = reference[keep] if len(keep) else reference[:0]
        new_kind = len(reference) < self.min_reference
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
        if new_kind:
            results = [_at_most_near_miss(r) for r in results]
            note = NewKindNote(key[1] or "", len(reference), self.min_reference, len(ids))
            self.new_kind_notes.append(note)
            log.info("%s", note.message())
        return list(zip(ids, self._stamp_version(results, saved), strict=True))

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
        keys = {(group, None) for group in ImageGroup} | set(self._groups)
        for group in sorted(keys, key=lambda k: (k[0].value, k[1] or "")):
            if await self.ensure_fitted(group, force=True):
                cal = self._state(group).calibration
                if cal is not None:
                    done.append(cal)
        return done


def _at_most_near_miss(result: ScoreResult) -> ScoreResult:
    if result.verdict is Verdict.ANOMALY:
        return dataclasses.replace(result, verdict=Verdict.NEAR_MISS)
    return result
