"""ONNX Runtime runs EfficientNet-Lite0 with the torch embedder's preprocessing and vectors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from astrolens.ml.embedders import create_embedder
from astrolens.ml.embedders.efficientnet_lite import EfficientNetLite0Embedder
from astrolens.ml.embedders.errors import CorruptCheckpointError, ModelUnavailableError
from astrolens.ml.embedders.onnx_embedder import OnnxLite0Embedder
from astrolens.ml.embedders.onnx_export import (
    OnnxModelInfo,
    export_efficientnet_lite0,
    onnx_file_name,
)
from astrolens.ml.embedders.preprocess import (
    dihedral_array_views,
    dihedral_views,
    to_array_batch,
    to_batch,
)

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("onnx-models")
    export_efficientnet_lite0(folder / onnx_file_name())
    return folder


@pytest.fixture(scope="module")
def torch_lite0() -> EfficientNetLite0Embedder:
    embedder = EfficientNetLite0Embedder()
    embedder.load()
    return embedder


def _real_images(shared_data: Path, count: int) -> list[np.ndarray]:
    bench = shared_data / "bench"
    with (bench / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    by_track: dict[str, list[str]] = {}
    for row in rows:
        by_track.setdefault(row["track"], []).append(row["path"])
    # Every track (HSC 96 px, Galaxy Zoo 424 px, ...): the resize path differs per size.
    paths = [p for group in zip(*by_track.values(), strict=False) for p in group][:count]
    demo = sorted((shared_data / "demo").glob("*.jpg"))[:4]
    files = [bench / p for p in paths] + demo
    return [np.asarray(Image.open(f).convert("RGB"), np.float32) / 255 for f in files]


@pytest.mark.parametrize(
    "shape", [(96, 96, 3), (424, 424, 3), (64, 80), (300, 150, 3), (224, 224, 3), (500, 37, 4)]
)
def test_numpy_preprocessing_matches_torch(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    images = [rng.random(shape).astype(np.float32) for _ in range(3)]
    expected = to_batch(images, 224, (0.5,) * 3, (0.25,) * 3).numpy()
    got = to_array_batch(images, 224, (0.5,) * 3, (0.25,) * 3)
    assert got.shape == expected.shape == (3, 3, 224, 224)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_numpy_dihedral_views_are_torchs() -> None:
    import torch

    batch = np.random.default_rng(2).random((2, 3, 8, 8)).astype(np.float32)
    torch_views = dihedral_views(torch.from_numpy(batch))
    numpy_views = dihedral_array_views(batch)
    assert len(numpy_views) == 8
    for mine, theirs in zip(numpy_views, torch_views, strict=True):
        np.testing.assert_array_equal(mine, theirs.numpy())


def test_onnx_embeddings_match_torch_on_real_images(
    shared_data: Path, exported: Path, torch_lite0: EfficientNetLite0Embedder
) -> None:
    images = _real_images(shared_data, 36)
    onnx = OnnxLite0Embedder(models_dir=Path("unused"), search_dirs=[exported])
    got, got_logits = onnx.embed_with_logits(images)
    want, want_logits = torch_lite0.embed_with_logits(images)
    assert got.shape == want.shape == (len(images), 1280)
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosine = (got * want).sum(axis=1)
    # The shared model_id promises interchangeable vectors: hold it to the stated bar.
    assert cosine.min() >= 0.999, cosine.min()
    assert onnx.model_id == torch_lite0.model_id
    assert (got_logits.argmax(1) == want_logits.argmax(1)).all()


def test_onnx_dihedral_tta_matches_torch(
    shared_data: Path, exported: Path, torch_lite0: EfficientNetLite0Embedder
) -> None:
    images = _real_images(shared_data, 4)
    onnx = OnnxLite0Embedder(models_dir=Path("unused"), search_dirs=[exported], tta="dihedral")
    assert onnx.model_id.endswith("+d8")
    cosine = (onnx.embed(images) * torch_lite0.embed(images, tta="dihedral")).sum(axis=1)
    assert cosine.min() >= 0.999


def test_spec_onnx_builds_the_onnx_embedder_with_the_same_id(tmp_path: Path) -> None:
    onnx = create_embedder("efficientnet-lite0+onnx", models_dir=tmp_path)
    assert isinstance(onnx, OnnxLite0Embedder)
    torch_id = create_embedder("efficientnet-lite0", models_dir=tmp_path).model_id
    assert onnx.model_id == torch_id
    assert create_embedder("efficientnet-lite0+onnx+d8", models_dir=tmp_path).model_id.endswith(
        "+d8"
    )
    with pytest.raises(Exception, match="fp32 only"):
        create_embedder("efficientnet-lite0+onnx+bf16", models_dir=tmp_path)


def test_missing_graph_is_exported_into_the_models_dir(tmp_path: Path) -> None:
    embedder = create_embedder("efficientnet-lite0+onnx", models_dir=tmp_path / "models")
    vectors = embedder.embed([np.full((64, 64), 0.3, np.float32)])
    assert vectors.shape == (1, 1280)
    path = tmp_path / "models" / onnx_file_name()
    assert path.is_file() and OnnxModelInfo.sidecar(path).is_file()


def test_a_damaged_graph_is_refused(tmp_path: Path, exported: Path) -> None:
    name = onnx_file_name()
    broken = tmp_path / name
    broken.write_bytes((exported / name).read_bytes()[:1000])
    (tmp_path / (name + ".json")).write_text((exported / (name + ".json")).read_text())
    embedder = OnnxLite0Embedder(models_dir=tmp_path, model_path=broken)
    with pytest.raises(CorruptCheckpointError, match="checksum"):
        embedder.load()
    info = json.loads((exported / (name + ".json")).read_text())
    assert info["weights_sha256"].startswith("57934424")


def test_without_torch_the_default_spec_runs_on_onnx_and_torch_features_say_so(
    tmp_path: Path, exported: Path
) -> None:
    """What the desktop bundle sees: torch is absent, the default still embeds."""
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "sys.modules['torch'] = None  # import torch -> ImportError, as in the bundle\n"
        "from astrolens.ml.embedders import create_embedder, recommended_embedder_spec\n"
        "from astrolens.ml.embedders.errors import ModelUnavailableError\n"
        "from astrolens.ml.embedders import onnx_embedder\n"
        "onnx_embedder.torch_available = lambda: False\n"
        "import astrolens.ml.embedders.registry as r; r.torch_available = lambda: False\n"
        f"e = create_embedder('efficientnet-lite0', models_dir=Path({str(tmp_path)!r}),\n"
        f"                    search_dirs=[Path({str(exported)!r})])\n"
        "print(type(e).__name__, e.embed([np.zeros((32, 32), np.float32)]).shape)\n"
        "print(recommended_embedder_spec())\n"
        "try:\n"
        "    create_embedder('openclip:ViT-B-32/x.pt', models_dir=Path('m')).load()\n"
        "except ModelUnavailableError as exc:\n"
        "    print('openclip:', exc)\n"
        "try:\n"
        f"    create_embedder('efficientnet-lite0', models_dir=Path({str(tmp_path / 'e')!r})"
        ").load()\n"
        "except ModelUnavailableError as exc:\n"
        "    print('missing:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "OnnxLite0Embedder (1, 1280)" in out
    assert "efficientnet-lite0\n" in out
    assert "openclip: torch is not available in this build" in out
    assert "missing: the ONNX model" in out and "not available in this build" in out


def test_missing_onnxruntime_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    embedder = OnnxLite0Embedder(models_dir=tmp_path)
    with pytest.raises(ModelUnavailableError, match="onnxruntime is not installed"):
        embedder.load()


def test_release_frees_the_session_and_the_next_embed_reopens_it(tmp_path: Path) -> None:
    from astrolens.domain.resources import bundled_models_dir

    if not (bundled_models_dir() / onnx_file_name()).is_file():
        pytest.skip("the bundled ONNX graph is not present")
    embedder = OnnxLite0Embedder(models_dir=tmp_path, search_dirs=[bundled_models_dir()])
    rng = np.random.default_rng(0)
    images = [rng.random((64, 64, 3), dtype=np.float32) for _ in range(3)]
    before = embedder.embed(images)
    embedder.release()
    assert embedder._session is None  # what an idle agent holds: no runtime arena
    np.testing.assert_array_equal(embedder.embed(images), before)


def test_numpy_preprocessing_clears_nan_and_inf_as_torch_does() -> None:
    rng = np.random.default_rng(3)
    images = [rng.random((50, 60)).astype(np.float32), rng.random((224, 224)).astype(np.float32)]
    for image in images:
        image[3, 4] = np.nan
        image[5, 6] = np.inf
        image[7, 8] = -np.inf
        image[9, 10] = 1.7
    expected = to_batch(images, 224, (0.5,) * 3, (0.25,) * 3).numpy()
    got = to_array_batch(images, 224, (0.5,) * 3, (0.25,) * 3)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, atol=1e-4)
