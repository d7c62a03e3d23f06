"""The scoring bank refits in the background: batches keep being judged meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from astrolens.domain.images import ImageGroup
from astrolens.domain.lookalike import KIND_KEY
from astrolens.domain.scoring import ScoreResult, Verdict
from astrolens.ml.scoring.ensemble import EnsembleScorer
from astrolens.pipeline.executors import Executors
from astrolens.pipeline.scoring_bank import ScoringBank
from astrolens.store.repository import SqliteRepository
from tests.pipeline.test_discovery import TinyEmbedder, hsc_normal, hsc_odd

MODEL = TinyEmbedder.model_id


def _vectors(start: int, n: int) -> np.ndarray:
    from astrolens.domain.images import Provenance, RawImage
    from astrolens.imaging.decoder import ImageDecoder

    decoder = ImageDecoder()
    images = [
        decoder.decode(RawImage(Provenance("t", f"t://{i}"), f"{i}.png", hsc_normal(i)))[0]
        for i in range(start, start + n)
    ]
    return TinyEmbedder().embed([im.pixels for im in images])


def _vectors_odd(n: int) -> np.ndarray:
    """Real HSC outliers (artefact-dominated), far from the galaxies."""
    from astrolens.domain.images import Provenance, RawImage
    from astrolens.imaging.decoder import ImageDecoder

    decoder = ImageDecoder()
    images = [
        decoder.decode(RawImage(Provenance("t", f"odd://{i}"), f"{i}.png", hsc_odd(i)))[0]
        for i in range(n)
    ]
    return TinyEmbedder().embed([im.pixels for im in images])


def _normal(version: int | None = None) -> ScoreResult:
    from tests.store.builders import result

    normal = result(Verdict.NORMAL)
    if version is None:
        return normal
    import dataclasses

    return dataclasses.replace(normal, calibration_version=version)


async def test_a_scheduled_refit_runs_beside_the_batches_and_then_takes_over(
    tmp_path: Path,
) -> None:
    from astrolens.domain.embedding import Embedding
    from astrolens.domain.images import DecodedImage, Provenance
    from astrolens.domain.writes import NewImage

    executors = Executors.create(io_threads=1)
    repo = executors.db.submit(SqliteRepository, tmp_path / "db.sqlite3").result()
    try:
        reference = _vectors(0, 40)
        rng = np.random.default_rng(0)  # unrelated perceptual hashes: no look-alikes
        items = [
            NewImage(
                DecodedImage(
                    Provenance("t", f"t://{i}"),
                    np.zeros((4, 4), np.float32),
                    f"hash-{i}",
                    f"{int(rng.integers(0, 2**63)):016x}",
                ),
                None,
                None,
                Embedding(MODEL, v),
                MODEL,
                None,
            )
            for i, v in enumerate(reference)
        ]
        executors.db.submit(repo.add_scored_images, items).result()
        ids, _ = executors.db.submit(repo.reference_vectors, MODEL, ImageGroup.SURVEY, 100).result()
        assert len(ids) == 40, ids

        gate = threading.Event()
        fits: list[int] = []

        class GatedScorer(EnsembleScorer):
            def fit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
                fits.append(1)
                if len(fits) > 1:  # the scheduled refit waits until the test lets it go
                    assert gate.wait(30)
                return super().fit(*args, **kwargs)

        bank = ScoringBank(
            lambda: GatedScorer(alpha=0.1), repo, executors, MODEL, min_reference=20,
            refit_every=5,
        )  # fmt: skip
        queries = _vectors(100, 12)
        first = await bank.score(ImageGroup.SURVEY, queries)
        assert first is not None and len(fits) == 1
        assert sum(r.verdict is Verdict.NORMAL for r in first) >= 5  # a refit is due
        version = first[0].calibration_version

        # The first batch scheduled the refit; once it is blocked on its thread, the next
        # batch is still judged at once. (Waiting for it to start removes a race: on a busy
        # machine the refit task could reach its thread only after the second batch.)
        for _ in range(1000):
            if len(fits) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(fits) == 2, "the scheduled refit never started"
        second = await asyncio.wait_for(bank.score(ImageGroup.SURVEY, queries), 10)
        assert second is not None and len(fits) == 2
        assert {r.calibration_version for r in second} == {version}

        gate.set()
        await bank.settle()
        third = await bank.score(ImageGroup.SURVEY, queries[:2])
        assert third is not None and third[0].calibration_version > version
    finally:
        gate.set()
        executors.db.submit(repo.close).result()
        executors.shutdown()


# ---------------------------------------------------------------- the bank's other duties


@pytest.fixture
def bank_env(tmp_path: Path) -> Iterator[tuple[SqliteRepository, Executors]]:
    executors = Executors.create(io_threads=1)
    repo = executors.db.submit(SqliteRepository, tmp_path / "db.sqlite3").result()
    yield repo, executors
    executors.db.submit(repo.close).result()
    executors.shutdown()


def _store(
    repo: SqliteRepository,
    ex: Executors,
    vectors: np.ndarray,
    *,
    kind: str | None = None,
    first: int = 0,
    score: ScoreResult | None = None,
) -> list[int]:
    """Images with these vectors, stored unscored (or with `score`), optionally of a kind."""
    from astrolens.domain.embedding import Embedding
    from astrolens.domain.images import DecodedImage, Provenance
    from astrolens.domain.writes import NewImage

    extra = {KIND_KEY: kind} if kind else {}
    # Unrelated perceptual hashes: no image is a look-alike (a duplicate) of another.
    rng = np.random.default_rng([first, len(kind or "")])
    items = [
        NewImage(
            DecodedImage(
                Provenance("t", f"t://{kind}/{first + i}", extra=extra),
                np.zeros((4, 4), np.float32),
                f"hash-{kind}-{first + i}",
                f"{int(rng.integers(0, 2**63)):016x}",
            ),
            None,
            None,
            Embedding(MODEL, v),
            MODEL,
            score,
        )
        for i, v in enumerate(vectors)
    ]
    stored = ex.db.submit(repo.add_scored_images, items).result()
    assert not any(s.duplicate for s in stored)
    return [s.record.id for s in stored]


def _bank(repo: SqliteRepository, ex: Executors, **kw: Any) -> ScoringBank:
    return ScoringBank(lambda: EnsembleScorer(alpha=0.1), repo, ex, MODEL, min_reference=20, **kw)


async def test_a_kind_bootstraps_until_it_has_enough_references_of_its_own(
    bank_env: tuple[SqliteRepository, Executors],
) -> None:
    repo, ex = bank_env
    _store(repo, ex, _vectors(0, 30), kind="a")
    _store(repo, ex, _vectors(30, 19), kind="b", first=100)
    bank = _bank(repo, ex)
    queries = _vectors(200, 3)
    assert await bank.score((ImageGroup.SURVEY, "b"), queries) is None  # 19 < 20
    judged = await bank.score((ImageGroup.SURVEY, "a"), queries)
    assert judged is not None and len(judged) == 3
    assert bank.calibration((ImageGroup.SURVEY, "a")) is not None
    assert bank.calibration((ImageGroup.SURVEY, "b")) is None
    # The stamped version is the one the store gave the calibration.
    stored = ex.db.submit(repo.calibration_by_version, judged[0].calibration_version).result()
    assert stored is not None and stored.model_id == MODEL


async def test_buffered_images_are_not_their_own_reference(
    bank_env: tuple[SqliteRepository, Executors],
) -> None:
    repo, ex = bank_env
    key = (ImageGroup.SURVEY, "a")
    ids = _store(repo, ex, _vectors(0, 25), kind="a")
    vectors = _vectors(0, 25)
    bank = _bank(repo, ex)
    for image_id, vector in zip(ids[:10], vectors[:10], strict=True):
        bank.defer(key, image_id, vector, f"hash-{image_id}")
    assert bank.pending(key) == 10 and bank.groups_with_pending() == [key]
    # 25 stored, 10 of them buffered: 15 references, fewer than 20.
    assert await bank.score(key, _vectors(200, 2)) is None
    assert not await bank.ensure_fitted(key)


async def test_a_flush_without_a_reference_ranks_the_batch_within_itself(
    bank_env: tuple[SqliteRepository, Executors],
) -> None:
    repo, ex = bank_env
    key = (ImageGroup.SURVEY, "new")
    vectors = np.concatenate([_vectors(0, 12), _vectors_odd(3)])
    ids = _store(repo, ex, vectors, kind="new")
    verdicts = []
    for order in (range(15), reversed(range(15))):  # arrival order must not matter
        bank = _bank(repo, ex)
        for i in order:
            bank.defer(key, ids[i], vectors[i], f"hash-new-{i:02d}")
        scored = await bank.flush(key)
        assert [image_id for image_id, _ in scored] == ids  # in the order of their keys
        assert bank.pending(key) == 0 and await bank.flush(key) == []
        (note,) = bank.new_kind_notes
        assert (note.kind, note.references, note.needed, note.batch) == ("new", 0, 20, 15)
        assert "none called an anomaly" in note.message()
        results = dict(scored)
        assert all(r.verdict is not Verdict.ANOMALY for r in results.values())  # capped
        strongest = max(results, key=lambda i: results[i].score)
        assert strongest in ids[12:]  # an outlier tops its batch
        verdicts.append({i: (r.verdict, r.score) for i, r in results.items()})
    assert verdicts[0] == verdicts[1]


async def test_a_flush_with_a_reference_flags_outliers_and_says_no_new_kind(
    bank_env: tuple[SqliteRepository, Executors],
) -> None:
    repo, ex = bank_env
    key = (ImageGroup.SURVEY, "known")
    _store(repo, ex, _vectors(0, 40), kind="known")
    odd = _vectors_odd(3)
    ids = _store(repo, ex, odd, kind="known", first=500)
    bank = _bank(repo, ex)
    for image_id, vector in zip(ids, odd, strict=True):
        bank.defer(key, image_id, vector, f"k{image_id}")
    scored = dict(await bank.flush(key))
    assert not bank.new_kind_notes
    assert all(r.verdict is not Verdict.NORMAL for r in scored.values())


async def test_images_a_crash_left_unscored_are_buffered_again_once(
    bank_env: tuple[SqliteRepository, Executors],
) -> None:
    repo, ex = bank_env
    unscored = _store(repo, ex, _vectors(0, 4), kind="a")
    _store(repo, ex, _vectors(4, 2), kind="a", first=50, score=_normal())
    bank = _bank(repo, ex)
    assert await bank.recover_unscored() == 4
    (key,) = bank.groups_with_pending()
    assert key[0] is ImageGroup.SURVEY and key[1]  # buffered under the kind the store knows
    assert bank.pending(key) == 4
    assert await bank.recover_unscored() == 0  # already buffered: not twice
    assert sorted(image_id for image_id, _ in await bank.flush(key)) == sorted(unscored)


async def test_a_saved_scorer_is_loaded_instead_of_refitted_and_refitted_when_due(
    bank_env: tuple[SqliteRepository, Executors], tmp_path: Path
) -> None:
    from astrolens.ml.scoring.saved_state import ScorerStateFiles

    repo, ex = bank_env
    key = (ImageGroup.SURVEY, "a")
    _store(repo, ex, _vectors(0, 30), kind="a")
    saved = ScorerStateFiles(tmp_path / "scorers")
    fits: list[int] = []

    class CountingScorer(EnsembleScorer):
        def fit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            fits.append(1)
            return super().fit(*args, **kwargs)

    def bank(refit_every: int = 200) -> ScoringBank:
        return ScoringBank(
            lambda: CountingScorer(alpha=0.1), repo, ex, MODEL, min_reference=20,
            refit_every=refit_every, saved=saved,
        )  # fmt: skip

    first = bank()
    queries = _vectors(200, 4)
    want = await first.score(key, queries)
    assert fits == [1] and want is not None
    version = want[0].calibration_version
    got = await bank().score(key, queries)
    assert fits == [1]  # loaded
    assert got is not None and [(r.score, r.p_value) for r in got] == [
        (r.score, r.p_value) for r in want
    ]
    assert {r.calibration_version for r in got} == {version}
    # Normals judged since the saved fit count toward the schedule across a restart.
    _store(repo, ex, _vectors(150, 3), kind="a", first=300, score=_normal(version))
    assert await bank(refit_every=3).ensure_fitted(key) and fits == [1, 1]


async def test_recalibrate_all_refits_every_kind_with_a_reference(
    bank_env: tuple[SqliteRepository, Executors],
) -> None:
    repo, ex = bank_env
    _store(repo, ex, _vectors(0, 25), kind="a")
    bank = _bank(repo, ex)
    first = await bank.score((ImageGroup.SURVEY, "a"), _vectors(200, 1))
    assert first is not None
    done = await bank.recalibrate_all()
    # The kind fitted so far and its group as a whole (kind None), both with a new version.
    assert len(done) == 2 and all(c.version > first[0].calibration_version for c in done)
    assert {c.group for c in done} == {ImageGroup.SURVEY.value}
    assert len(bank.calibrations()) == 2


async def test_stop_cancels_a_refit_in_flight_within_its_timeout(
    bank_env: tuple[SqliteRepository, Executors],
) -> None:
    repo, ex = bank_env
    _store(repo, ex, _vectors(0, 25), kind="a")
    gate = threading.Event()

    class Stuck(EnsembleScorer):
        def fit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            if len(bank._refits):  # the scheduled refit blocks on its thread
                gate.wait(5)
            return super().fit(*args, **kwargs)

    bank = ScoringBank(lambda: Stuck(alpha=0.1), repo, ex, MODEL, min_reference=20, refit_every=1)
    try:
        assert await bank.score((ImageGroup.SURVEY, "a"), _vectors(200, 5)) is not None
        refits = list(bank._refits.values())
        assert len(refits) == 1  # scheduled by the normals it judged
        started = time.monotonic()
        await bank.cancel_refits(0.5)
        assert time.monotonic() - started < 2
        assert refits[0].done() and not bank._refits
        await asyncio.wait_for(bank.settle(), 1)  # nothing left to wait for
    finally:
        gate.set()
