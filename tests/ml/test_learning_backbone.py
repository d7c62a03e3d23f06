"""Fine-tuning the backbone's last blocks: real EfficientNet-Lite0, tiny synthetic task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from astrolens.ml.embedders import create_embedder
from astrolens.ml.embedders.efficientnet_lite import (
    EfficientNetLite0Embedder,
    fine_tuned_path,
    save_fine_tuned,
)
from astrolens.ml.embedders.errors import CorruptCheckpointError, ModelUnavailableError
from astrolens.ml.embedders.preprocess import to_batch
from astrolens.ml.learning.backbone import (
    BackboneHyperParameters,
    embed_with,
    finetune_backbone,
)
from astrolens.ml.learning.finetune import TrainingCancelled


def two_kinds(n: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Class 1: a bright elliptical disc near the centre; class 0: faint point sources. Shapes
    and positions vary, so no two look alike to a perceptual hash."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    images, labels = [], []
    for i in range(n):
        img = rng.normal(0.05, 0.02, (64, 64, 3)).clip(0, 1).astype(np.float32)
        if i % 2:
            cy, cx = 32 + rng.uniform(-8, 8, 2)
            a, b, t = rng.uniform(8, 20), rng.uniform(4, 12), rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
            v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
            img[(u / a) ** 2 + (v / b) ** 2 < 1] = rng.uniform(0.7, 1.0)
        else:
            for _ in range(6):
                y, x = rng.integers(4, 60, 2)
                img[y - 1 : y + 2, x - 1 : x + 2] = 0.6
        images.append(img)
        labels.append(i % 2)
    return images, np.array(labels)


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0Embedder:
    embedder = create_embedder("efficientnet-lite0+torch", models_dir=Path("unused"))
    assert isinstance(embedder, EfficientNetLite0Embedder)
    embedder.load()
    return embedder


def _batch(lite0: EfficientNetLite0Embedder):
    return lambda chunk: to_batch(chunk, 224, lite0._mean, lite0._std)


def test_only_the_tail_changes_and_the_head_separates_the_classes(lite0) -> None:
    images, y = two_kinds(16)
    original = {k: v.clone() for k, v in lite0._network.state_dict().items()}
    hp = BackboneHyperParameters(blocks=1, epochs=3, views=2)
    tuned = finetune_backbone(lite0._network, images, y, ("stars", "disc"), _batch(lite0), hp)
    after = tuned.network.state_dict()
    last = len(lite0._network._blocks) - 1
    changed = {k for k in after if not torch.equal(after[k], original[k])}
    assert any(k.startswith(f"_blocks.{last}.") for k in changed)
    assert any(k.startswith("_conv_head.") for k in changed)
    assert not any(
        k.startswith(("_conv_stem", "_blocks.0.", f"_blocks.{last - 1}.")) for k in changed
    )
    assert all(torch.equal(v, original[k]) for k, v in lite0._network.state_dict().items()), (
        "the embedder's own network is untouched (training works on a copy)"
    )
    features = embed_with(tuned.network, images, _batch(lite0))
    assert features.shape == (16, 1280)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    assert (tuned.head.predict(features) == y).mean() == 1.0


def test_cancel_stops_the_run(lite0) -> None:
    images, y = two_kinds(8)
    with pytest.raises(TrainingCancelled):
        finetune_backbone(
            lite0._network,
            images,
            y,
            ("a", "b"),
            _batch(lite0),
            BackboneHyperParameters(blocks=1, epochs=2, views=1),
            cancelled=lambda: True,
        )
    with pytest.raises(ValueError, match="two classes"):
        finetune_backbone(lite0._network, images, np.zeros(8), ("a", "b"), _batch(lite0))


def test_a_saved_backbone_is_its_own_model_and_is_checked(lite0, tmp_path: Path) -> None:
    state = {k: v.clone() for k, v in lite0._network.state_dict().items()}
    state["_conv_head.weight"] *= 1.5  # a "fine-tuned" network: different vectors
    digest = save_fine_tuned(state, tmp_path)
    assert fine_tuned_path(tmp_path, digest).exists()
    assert not list((tmp_path / "backbones").glob(".incoming*")), "no temp file is left"
    tuned = create_embedder(f"efficientnet-lite0+ft-{digest}", models_dir=tmp_path)
    assert tuned.model_id == f"efficientnet-lite0/ft@{digest}" != lite0.model_id
    images, _ = two_kinds(2)
    assert float(np.sum(tuned.embed(images) * lite0.embed(images), axis=1).min()) < 0.9999

    with pytest.raises(ModelUnavailableError):
        create_embedder("efficientnet-lite0+ft-0123abcd", models_dir=tmp_path)
    with pytest.raises(ModelUnavailableError, match="needs torch"):
        create_embedder(f"efficientnet-lite0+ft-{digest}+onnx", models_dir=tmp_path)
    path = fine_tuned_path(tmp_path, digest)
    path.write_bytes(path.read_bytes()[:-100])  # a torn copy
    broken = create_embedder(f"efficientnet-lite0+ft-{digest}", models_dir=tmp_path)
    with pytest.raises(CorruptCheckpointError, match="checksum"):
        broken.load()
