"""The ranking measures each candidate's photometry once, from its stored image, and keeps it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from astrolens.app.context import AstroLensApp
from astrolens.domain.embedding import Embedding
from astrolens.domain.scoring import Verdict
from astrolens.ml.features.photometry import FEATURE_NAMES, PHOTOMETRY_MODEL_ID
from astrolens.services.learning import LearningService
from astrolens.services.ranking import PHOTOMETRY_PER_RUN, RankPool, measure_photometry
from astrolens.settings.paths import app_paths


@pytest.fixture
def app_with_candidates(tmp_path: Path) -> Iterator[tuple[AstroLensApp, list[int]]]:
    """Six anomalies in the store, each with its image file on disk."""
    from tests.app.test_learning_e2e import MODEL, FixedEmbedder
    from tests.store.builders import decoded, result

    app = AstroLensApp(paths=app_paths(tmp_path / "home"))
    app.__dict__["embedder"] = FixedEmbedder()
    ids = []
    yy, xx = np.mgrid[:64, :64]
    for i in range(6):
        path = tmp_path / f"c{i}.png"
        blob = np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / (20.0 + 10 * i))
        Image.fromarray((255 * blob).astype(np.uint8)).save(path)
        vector = np.random.default_rng(i).standard_normal(FixedEmbedder.dim).astype(np.float32)
        record = app.db(
            lambda r, i=i, path=path, vector=vector: r.add_scored_image(
                decoded(i),
                str(path),
                None,
                Embedding(MODEL, vector / np.linalg.norm(vector)),
                MODEL,
                result(Verdict.ANOMALY),
            )
        )
        ids.append(record.id)
    yield app, ids
    app.close()


async def test_every_candidate_is_measured_once(app_with_candidates) -> None:
    app, ids = app_with_candidates
    service = LearningService(app)
    try:
        # a re-rank measures only a few (PHOTOMETRY_PER_RUN; 2 here), newest first ...
        service.reranker._prepare = lambda pool: service._measure(pool, 2)
        assert await service.rerank() == 6
        measured, _ = app.db(lambda r: r.embeddings(PHOTOMETRY_MODEL_ID))
        assert measured == sorted(ids)[-2:]
        # ... and the background catch-up does the rest, once
        assert await service.catch_up_photometry() == 4
        measured, matrix = app.db(lambda r: r.embeddings(PHOTOMETRY_MODEL_ID))
        assert measured == sorted(ids) and np.isfinite(matrix).all()
        assert matrix.shape == (6, len(FEATURE_NAMES))
        assert await service.catch_up_photometry() == 0
        calls = []
        service.reranker._prepare = lambda pool: calls.append(len(pool.unmeasured)) or pool
        await service.rerank()
        assert calls == [0], "nothing is measured twice"
        assert PHOTOMETRY_PER_RUN <= 64, "a label's re-rank stays quick"
    finally:
        service.close()


def test_an_unreadable_image_is_stored_as_unmeasured_and_not_retried(tmp_path: Path) -> None:
    pool = RankPool("m", ids=[1, 2, 3], vectors=np.eye(3, dtype=np.float32))
    pool.photometry = np.full((3, len(FEATURE_NAMES)), np.nan, np.float32)
    image = tmp_path / "ok.npy"
    image.write_bytes(b"")
    pool.unmeasured = [(0, 1, str(image)), (1, 2, str(tmp_path / "gone.png")), (2, 3, None)]
    saved: list[list[tuple[int, np.ndarray]]] = []

    def decode(path: Path) -> np.ndarray:
        yy, xx = np.mgrid[:48, :48]
        return np.exp(-((yy - 24) ** 2 + (xx - 24) ** 2) / 50.0)[..., None].repeat(3, 2)

    measure_photometry(pool, decode, saved.append, limit=2)
    (batch,) = saved
    assert [i for i, _ in batch] == [3, 2], "newest first, at most the limit"
    assert all(np.isnan(v).all() for _, v in batch), "no file: NaN, stored so not retried"
    assert pool.unmeasured == [(0, 1, str(image))]
    measure_photometry(pool, decode, saved.append)
    assert saved[-1][0][0] == 1 and np.isfinite(saved[-1][0][1]).all()
    assert pool.unmeasured == [] and np.isfinite(pool.photometry[0]).all()
