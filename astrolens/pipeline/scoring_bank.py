"""One calibrated scorer per kind of image, refitted as the reference grows.

Images are only judged against their own kind (domain/lookalike.py: group, survey or
instrument, stamp or whole, colour, bands, pixel scale), so a folder from a survey the archive
has never seen is not flagged wholesale against another survey's reference. Until a kind has
`min_reference` stored references there is no honest p-value: its images are buffered and
ranked within their batch (each against the others), capped at near-miss, and the bank says
"new kind of image: no reference yet (n of N)".
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from astrolens.domain.images import ImageGroup
from astrolens.domain.lookalike import describe_key, new_kind_message
from astrolens.domain.ports import AnomalyScorer, Matrix, Repository, ScorerStore
from astrolens.domain.reference import REFERENCE
from astrolens.domain.scoring import Calibration, ScoreResult, Verdict
from astrolens.pipeline.executors import Executors, run_in

log = logging.getLogger(__name__)

ScorerFactory = Callable[[], AnomalyScorer]

# (group, look-alike kind key); kind None = the whole group (images with no recorded kind)
ScoringKey = tuple[ImageGroup, str | None]


def _key(group: ImageGroup | ScoringKey) -> ScoringKey:
    return group if isinstance(group, tuple) else (group, None)


def key_name(key: ScoringKey) -> str:
    """The key as one string (file names, logs): 'stamp' or 'stamp|<kind>'."""
    return key[0].value if key[1] is None else f"{key[0].value}|{key[1]}"


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
        self._groups: dict[ScoringKey, _GroupState] = {}
        self._refits: dict[ScoringKey, asyncio.Task[None]] = {}
        self.new_kind_notes: list[NewKindNote] = []

    def _state(self, group: ImageGroup | ScoringKey) -> _GroupState:
        return self._groups.setdefault(_key(group), _GroupState())

    def calibration(self, group: ImageGroup | ScoringKey) -> Calibration | None:
        return self._state(group).calibration

    def calibrations(self) -> list[Calibration]:
        """The calibration of every group and kind fitted so far."""
        return [s.calibration for s in self._groups.values() if s.calibration is not None]

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

    async def ensure_fitted(
        self, group: ImageGroup | ScoringKey, *, force: bool = False, background: bool = False
    ) -> bool:
        """Fit the kind's scorer on the stored reference if it is large enough.
        `background`: fit on the refit thread (the previous fit keeps scoring meanwhile)."""
        key = _key(group)
        state = self._state(key)
        if state.scorer is not None and not force:
            return True
        if not force and await self._restore(key, state):
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
        executor = (self._ex.refit or self._ex.ml) if background else self._ex.ml
        calibration = await run_in(
            executor, scorer.fit, reference, group=key[0].value, model_id=self.model_id
        )
        state.calibration = await run_in(self._ex.db, self._repo.save_calibration, calibration)
        state.scorer = scorer
        state.new_normals_since_fit = 0
        log.info(
            "calibrated %s on %d reference images (version %d)",
            key_name(key),
            len(reference),
            state.calibration.version,
        )
        if self._saved is not None:
            await run_in(self._ex.io, self._saved.save, key_name(key), scorer, state.calibration)
        return True

    async def _restore(self, key: ScoringKey, state: _GroupState) -> bool:
        """Load the scorer saved for the kind, with its stored calibration and the count of
        normals it has judged since (the refit schedule survives a restart). Kinds share a
        group's calibration rows, so the file names its calibration and the store confirms
        it; one writer per home keeps the file the kind's newest."""
        if self._saved is None:
            return False
        name = key_name(key)
        version = await run_in(self._ex.io, self._saved.saved_version, name, self.model_id)
        if version is None:
            return False
        stored = await run_in(self._ex.db, self._repo.calibration_by_version, version)
        if (
            stored is None
            or stored.bootstrap
            or stored.model_id != self.model_id
            or stored.group != key[0].value
        ):
            return False
        scorer = await run_in(self._ex.io, self._saved.load, name, stored, self._factory())
        if scorer is None:
            return False
        judged = await run_in(
            self._ex.db, self._repo.count_normal_scores, self.model_id, stored.version
        )
        state.scorer, state.calibration = scorer, stored
        state.new_normals_since_fit = judged
        log.info("loaded the %s scorer of calibration %d", name, stored.version)
        if judged >= self.refit_every:
            return await self.ensure_fitted(key, force=True)
        return True

    async def score(
        self, group: ImageGroup | ScoringKey, vectors: Matrix
    ) -> list[ScoreResult] | None:
        """Scores for a batch, or None when the kind is still bootstrapping."""
        key = _key(group)
        if not await self.ensure_fitted(key):
            return None
        state = self._state(key)
        assert state.scorer is not None
        results = await run_in(self._ex.ml, state.scorer.score, vectors)
        results = self._stamp_version(results, state.calibration)
        # New images are unlabelled: the reference rule alone says which of them will count
        # as reference at the next refit (the store's query reads the same rule).
        state.new_normals_since_fit += sum(REFERENCE.admits(r.verdict, None) for r in results)
        if state.new_normals_since_fit >= self.refit_every and key not in self._refits:
            # On the refit thread: the next batches are judged by the current fit until the
            # new one is ready, so a batch costs what it is, not a refit of the archive.
            self._refits[key] = asyncio.create_task(
                self._refit(key), name=f"astrolens-refit-{key_name(key)}"
            )
        return results

    async def _refit(self, key: ScoringKey) -> None:
        try:
            await self.ensure_fitted(key, force=True, background=True)
        except Exception:  # a failed refit keeps the previous fit; the next batch retries
            log.exception("background refit of %s failed", key_name(key))
        finally:
            self._refits.pop(key, None)

    async def cancel_refits(self, timeout_s: float) -> None:
        """Stop waiting for refits in flight (the pipeline is stopping); bounded."""
        tasks = list(self._refits.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        # A refit cancelled before it started never ran the `finally` that forgets it: left
        # here, it would block the kind's next refit and keep `settle` spinning.
        for key, task in list(self._refits.items()):
            if task.done():
                del self._refits[key]

    async def settle(self) -> None:
        """Wait for the refits in flight (a cycle ends with its reference model saved)."""
        while self._refits:
            await asyncio.gather(*list(self._refits.values()), return_exceptions=True)

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

    async def fit_after_flush(self, group: ImageGroup | ScoringKey) -> None:
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
