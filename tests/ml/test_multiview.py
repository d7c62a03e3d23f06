"""Multi-view embedding: the views are right and the wrapper keeps the Embedder contract."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from astrolens.ml.features import MultiViewEmbedder, centre_crop, dihedral_views


class PixelEmbedder:
    """A stand-in backbone: the flattened 4x4 image (not rotation-invariant on purpose)."""

    model_id = "pixels"
    dim = 16

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        self.calls.append(len(images))
        out = np.stack([np.resize(im[:4, :4], (4, 4)).ravel() for im in images])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def test_dihedral_views_are_the_8_distinct_symmetries() -> None:
    image = np.arange(9, dtype=np.float32).reshape(3, 3)
    views = dihedral_views(image)
    assert len(views) == 8
    assert np.array_equal(views[0], image)
    assert len({v.tobytes() for v in views}) == 8
    rgb = np.zeros((3, 5, 3), dtype=np.float32)
    assert {v.shape for v in dihedral_views(rgb)} == {(3, 5, 3), (5, 3, 3)}


def test_centre_crop_keeps_the_middle() -> None:
    image = np.arange(64, dtype=np.float32).reshape(8, 8)
    assert np.array_equal(centre_crop(image, 0.5), image[2:6, 2:6])


def test_embedding_is_rotation_invariant_and_normalised() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(8, 8)).astype(np.float32)
    inner = PixelEmbedder()
    emb = MultiViewEmbedder(inner)
    a = emb.embed([image, np.rot90(image).copy()])
    assert a.shape == (2, 32) and emb.dim == 32
    np.testing.assert_allclose(a[0], a[1], atol=1e-6)  # the dihedral mean forgets orientation
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert inner.calls == [16, 16]  # 2 images x 8 views, once per crop
    assert emb.model_id == "pixels@d8:c100+c50"
