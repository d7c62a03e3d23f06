"""EfficientNet-Lite0: real ImageNet weights, preprocessing, embeddings, logits and TTA."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from astrolens.ml.embedders import UnknownEmbedderError, create_embedder
from astrolens.ml.embedders.efficientnet_lite import LITE_MEAN, LITE_STD, EfficientNetLite0Embedder

# ImageNet-1k class indices (no label file is downloaded).
CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {504, 967, 968}  # coffee mug, espresso, cup
ROCKETS = {657, 744, 812}  # missile, projectile, space shuttle


def _photo(name: str) -> np.ndarray:
    return getattr(skimage.data, name)().astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0Embedder:
    embedder = create_embedder("efficientnet-lite0+torch", models_dir=Path("unused"))
    assert isinstance(embedder, EfficientNetLite0Embedder)
    return embedder


def test_preprocessing_is_tensorflow_lite_not_imagenet() -> None:
    # (255 x - 127) / 128: the Lite family's training normalisation, [-1, 1] for [0, 1] input.
    assert np.allclose(LITE_MEAN, 127 / 255) and np.allclose(LITE_STD, 128 / 255)
    assert (0.0 - LITE_MEAN[0]) / LITE_STD[0] == pytest.approx(-127 / 128)
    assert (1.0 - LITE_MEAN[0]) / LITE_STD[0] == pytest.approx(1.0)


def test_classifies_natural_photos(lite0: EfficientNetLite0Embedder) -> None:
    logits = lite0.logits([_photo("chelsea"), _photo("coffee"), _photo("rocket")])
    assert logits.shape == (3, 1000) and logits.dtype == np.float32
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert top5[0, 0] in CATS, top5[0]
    assert top5[1, 0] in COFFEE, top5[1]
    assert ROCKETS & set(top5[2].tolist()), top5[2]
    probabilities = np.exp(logits[0] - logits[0].max())
    assert probabilities[list(CATS)].sum() / probabilities.sum() > 0.8  # confident, not lucky


def test_embeddings_are_unit_float32_and_named(lite0: EfficientNetLite0Embedder) -> None:
    vectors = lite0.embed([_photo("chelsea"), _photo("coffee")])
    assert vectors.shape == (2, 1280) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert lite0.model_id == "efficientnet-lite0/imagenet@57934424" and lite0.dim == 1280
    assert float(vectors[0] @ vectors[1]) < 0.9  # a cat is not a coffee cup
    assert lite0.embed([]).shape == (0, 1280)


def test_grey_images_become_three_channels(lite0: EfficientNetLite0Embedder) -> None:
    grey = _photo("camera")
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    np.testing.assert_allclose(lite0.embed([grey]), lite0.embed([rgb]), atol=1e-6)


def test_mixed_sizes_and_batches_agree(lite0: EfficientNetLite0Embedder) -> None:
    images = [_photo("chelsea"), _photo("camera")[:100, :120], _photo("rocket")]
    together = lite0.embed(images)
    one_by_one = np.concatenate([lite0.embed([image]) for image in images])
    np.testing.assert_allclose(together, one_by_one, atol=1e-4)


def test_embed_with_logits_matches_separate_calls(lite0: EfficientNetLite0Embedder) -> None:
    images = [_photo("coffee")]
    vectors, logits = lite0.embed_with_logits(images)
    np.testing.assert_allclose(vectors, lite0.embed(images), atol=1e-6)
    np.testing.assert_allclose(logits, lite0.logits(images), atol=1e-4)


def test_dihedral_tta_is_rotation_and_flip_invariant(lite0: EfficientNetLite0Embedder) -> None:
    image = _photo("chelsea")[:300, :300]
    turned = np.rot90(image, 1).copy()
    mirrored = image[:, ::-1].copy()
    plain = lite0.embed([image, turned])
    assert float(plain[0] @ plain[1]) < 0.99  # the backbone alone does see orientation
    averaged = lite0.embed([image, turned, mirrored], tta="dihedral")
    np.testing.assert_allclose(averaged[1], averaged[0], atol=1e-5)
    np.testing.assert_allclose(averaged[2], averaged[0], atol=1e-5)


def test_recommended_spec_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from astrolens.ml.embedders import registry

    monkeypatch.setattr(registry, "cpu_has_native_bf16", lambda: True)
    assert registry.recommended_embedder_spec() == "efficientnet-lite0+bf16"
    monkeypatch.setattr(registry, "cpu_has_native_bf16", lambda: False)
    assert registry.recommended_embedder_spec() == "efficientnet-lite0"


def test_lower_input_resolution_is_named_and_still_sees_a_cat() -> None:
    embedder = create_embedder("efficientnet-lite0+r128+bf16", models_dir=Path("x"))
    assert embedder.model_id == "efficientnet-lite0/imagenet@57934424+r128+bf16"
    assert embedder.input_size == 128
    assert isinstance(embedder, EfficientNetLite0Embedder)
    assert np.argmax(embedder.logits([_photo("chelsea")])[0]) in CATS
    with pytest.raises(UnknownEmbedderError):
        create_embedder("efficientnet-lite0+r8", models_dir=Path("x"))


def test_spec_modifiers_change_the_model_id() -> None:
    assert create_embedder("efficientnet-lite0+bf16", models_dir=Path("x")).model_id.endswith(
        "+bf16"
    )
    embedder = create_embedder("efficientnet-lite0+d8", models_dir=Path("x"))
    assert embedder.model_id.endswith("+d8") and embedder.tta == "dihedral"


def _bench_images(shared_data: Path, count: int) -> list[np.ndarray]:
    paths = sorted((shared_data / "bench").glob("*/*/*.png"))[:count]
    if len(paths) < count:
        pytest.skip("benchmark images missing")
    return [np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255 for p in paths]


def test_bf16_stays_close_to_fp32_on_real_images(shared_data: Path) -> None:
    images = _bench_images(shared_data, 16)
    fp32 = EfficientNetLite0Embedder().embed(images)
    bf16 = EfficientNetLite0Embedder(precision="bf16").embed(images)
    cosine = np.sum(fp32 * bf16, axis=1)
    assert cosine.min() >= 0.99, cosine


def test_importing_the_packages_loads_no_heavy_library() -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "import astrolens.ml.embedders, astrolens.ml.index\n"
        "from astrolens.ml.embedders import create_embedder, available_embedders\n"
        "from astrolens.ml.index import FaissIndex\n"
        "e = create_embedder('efficientnet-lite0', models_dir=Path('m'))\n"
        "print(e.model_id, e.dim)\n"
        "print(sorted(m for m in ('torch', 'faiss', 'open_clip') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.splitlines()[-1] == "[]", result.stdout
