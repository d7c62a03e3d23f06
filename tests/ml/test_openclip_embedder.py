"""open_clip embedders from a tiny local checkpoint, and the offline/corruption failures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from astrolens.ml.embedders import (
    CorruptCheckpointError,
    ModelUnavailableError,
    UnknownEmbedderError,
    create_embedder,
)
from astrolens.ml.embedders.openclip import OpenClipEmbedder, resolve_tag

TINY_ARCH = "AstroLensTest-TinyViT"
TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 1, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("tiny-openclip")
    (folder / f"{TINY_ARCH}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(folder / f"{TINY_ARCH}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_ARCH, pretrained=None)
    path = folder / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


def test_loads_a_local_checkpoint_and_embeds(tiny_checkpoint: Path, tmp_path: Path) -> None:
    embedder = create_embedder(f"openclip:{TINY_ARCH}/{tiny_checkpoint}", models_dir=tmp_path)
    assert embedder.dim == 16
    assert embedder.model_id.startswith(f"openclip:{TINY_ARCH}/file@")
    images = [skimage.data.chelsea() / 255.0, skimage.data.camera() / 255.0]
    vectors = embedder.embed(images)
    assert vectors.shape == (2, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])
    # The same file gives the same vectors: the weights, not a random init, were used.
    again = create_embedder(f"openclip:{TINY_ARCH}/{tiny_checkpoint}", models_dir=tmp_path)
    np.testing.assert_allclose(again.embed(images), vectors, atol=1e-6)
    assert again.model_id == embedder.model_id


def test_model_id_follows_file_content(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import open_clip
    import torch

    torch.manual_seed(1)
    other = tmp_path / "tiny.pt"  # same file name, other weights
    torch.save(open_clip.create_model(TINY_ARCH, pretrained=None).state_dict(), other)
    first = create_embedder(f"openclip:{TINY_ARCH}/{tiny_checkpoint}", models_dir=tmp_path)
    second = create_embedder(f"openclip:{TINY_ARCH}/{other}", models_dir=tmp_path)
    assert first.model_id != second.model_id


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong_arch"])
def test_corrupt_checkpoint_gives_clear_error(
    tiny_checkpoint: Path, tmp_path: Path, damage: str
) -> None:
    import torch

    bad = tmp_path / "bad.pt"
    if damage == "truncated":
        bad.write_bytes(tiny_checkpoint.read_bytes()[:2000])
    elif damage == "garbage":
        bad.write_bytes(b"<html>404 not found</html>")
    else:
        torch.save({"visual.conv1.weight": torch.zeros(3)}, bad)
    embedder = create_embedder(f"openclip:{TINY_ARCH}/{bad}", models_dir=tmp_path)
    with pytest.raises(CorruptCheckpointError, match="cannot load open_clip weights"):
        embedder.embed([np.zeros((32, 32), np.float32)])


def test_known_tag_offline_fails_fast_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = create_embedder("openclip:ViT-B-32/laion2b_s34b_b79k", models_dir=tmp_path)
    assert embedder.model_id == "openclip:ViT-B-32/laion2b_s34b_b79k" and embedder.dim == 512
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE"):
        embedder.load()
    assert time.monotonic() - started < 2


def test_known_tag_without_network_fails_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    embedder = create_embedder(
        "openclip:ViT-B-32/laion2b_s34b_b79k", models_dir=tmp_path / "models", offline=False
    )
    assert isinstance(embedder, OpenClipEmbedder)
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="cannot download"):
        embedder.load()
    assert time.monotonic() - started < 15
    assert list((tmp_path / "models").glob("*")) == []  # no partial file left behind


def test_resolves_published_tags_to_hub_urls() -> None:
    remote = resolve_tag("ViT-B-32", "laion2b_s34b_b79k", hf_base_url="http://127.0.0.1:9")
    assert remote is not None
    assert remote.url == (
        "http://127.0.0.1:9/laion/CLIP-ViT-B-32-laion2B-s34B-b79K/resolve/main/"
        "open_clip_pytorch_model.bin"
    )
    assert resolve_tag("ViT-B-32", "no-such-tag") is None


@pytest.mark.parametrize(
    "spec",
    [
        "openclip:NoSuchArch/openai",
        "openclip:ViT-B-32/no-such-tag-or-file",
        "openclip:ViT-B-32",
        "resnet9000",
        "efficientnet-lite0+fp8",
    ],
)
def test_bad_specs_are_refused(spec: str, tmp_path: Path) -> None:
    with pytest.raises(UnknownEmbedderError):
        create_embedder(spec, models_dir=tmp_path)


def test_available_embedders_lists_default_and_openclip_tags() -> None:
    from astrolens.ml.embedders import available_embedders

    specs = [info.spec for info in available_embedders()]
    assert specs[0] == "efficientnet-lite0"
    assert "openclip:ViT-B-32/laion2b_s34b_b79k" in specs
