"""The scoring bank refits in the background: batches keep being judged meanwhile."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np

from astrolens.domain.images import ImageGroup
from astrolens.domain.scoring import Verdict
from astrolens.ml.scoring.ensemble import EnsembleScorer
from astrolens.pipeline.executors import Executors
from astrolens.pipeline.scoring_bank import ScoringBank
from astrolens.store.repository import SqliteRepository
from tests.pipeline.test_discovery import TinyEmbedder, hsc_normal

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
