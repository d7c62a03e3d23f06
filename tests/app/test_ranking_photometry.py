"""The ranking measures each candidate's photometry once, from its stored image, and keeps it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from astrolens.app.cli import main
from astrolens.app.context import AstroLensApp
from astrolens.app.learning import LearningService
from astrolens.app.ranking import RankPool, measure_photometry
from astrolens.ml.features.photometry import FEATURE_NAMES, PHOTOMETRY_MODEL_ID
from tests.app.test_cli import folder  # noqa: F401  (the fixture)


async def test_a_rerank_measures_every_candidate_once(folder: Path) -> None:  # noqa: F811
    assert await asyncio.to_thread(main, ["scan", str(folder), "--no-crossmatch"]) == 0
    app = AstroLensApp()
    service = LearningService(app)
    try:
        ranked = await service.rerank()
        ids, matrix = app.db(lambda r: r.embeddings(PHOTOMETRY_MODEL_ID))
        assert ranked > 0 and len(ids) == ranked, "every queued candidate got its photometry"
        assert matrix.shape == (ranked, len(FEATURE_NAMES)) and np.isfinite(matrix).all()
        calls = []
        service._measure = lambda pool: calls.append(len(pool.unmeasured)) or pool  # type: ignore[method-assign]
        service.reranker._prepare = service._measure
        await service.rerank()
        assert calls == [0], "nothing is measured twice"
    finally:
        service.close()
        app.close()


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
