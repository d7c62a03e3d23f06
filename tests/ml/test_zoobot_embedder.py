"""`zoobot:<name>` end to end with no network: the test writes a tiny timm checkpoint of the
published architecture (ConvNeXt, shrunk through config.json's model_args, 32 px input) into
the standard Hugging Face hub-cache layout under a temp HF_HOME, with HF_HUB_OFFLINE=1, and
the real registry -> huggingface_hub -> checksum -> timm path loads and embeds with it."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from astrolens.ml.embedders.errors import CorruptCheckpointError, ModelUnavailableError
from astrolens.ml.embedders.registry import available_embedders, create_embedder

timm = pytest.importorskip("timm")
torch = pytest.importorskip("torch")

REPO = "mwalmsley/zoobot-encoder-convnext_pico"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TINY_ARGS = {"depths": [1, 1, 1, 1], "dims": [8, 16, 24, 32]}
CARD = "---\nlibrary_name: timm\nlicense: apache-2.0\n---\n# Model card\n"


def _write_hub_cache(hf_home: Path, files: dict[str, bytes], *, corrupt: str = "") -> None:
    """models--owner--name/{blobs/<sha256>, snapshots/<commit>/<file> -> blob, refs/main}."""
    root = hf_home / "hub" / f"models--{REPO.replace('/', '--')}"
    (root / "blobs").mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(COMMIT)
    snapshot = root / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        (root / "blobs" / sha).write_bytes(
            data[:-1] + bytes([data[-1] ^ 0xFF]) if name == corrupt else data
        )
        (snapshot / name).symlink_to(Path("..") / ".." / "blobs" / sha)


def _tiny_checkpoint(seed: int = 0) -> dict[str, bytes]:
    torch.manual_seed(seed)
    network = timm.create_model("convnext_pico", pretrained=False, num_classes=0, **TINY_ARGS)
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    config = {
        "architecture": "convnext_pico",
        "num_classes": 0,
        "model_args": TINY_ARGS,
        "pretrained_cfg": {"input_size": [3, 32, 32], "mean": [0.5] * 3, "std": [0.25] * 3},
    }
    return {
        "config.json": json.dumps(config).encode(),
        "pytorch_model.bin": buffer.getvalue(),
        "README.md": CARD.encode(),
    }


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads its constants at import: point them at the temp home too.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return home


@pytest.fixture
def hf_hub_home_files(hf_home: Path) -> dict[str, bytes]:
    files = _tiny_checkpoint()
    _write_hub_cache(hf_home, files)
    return files


def test_loads_and_embeds_from_the_offline_hub_cache(hf_home: Path, tmp_path: Path) -> None:
    files = _tiny_checkpoint()
    _write_hub_cache(hf_home, files)
    embedder = create_embedder("zoobot:convnext_pico", models_dir=tmp_path / "models")
    digest = hashlib.sha256(files["pytorch_model.bin"]).hexdigest()
    assert embedder.model_id == f"zoobot:convnext_pico@{digest[:12]}"  # known before loading
    embedder.load()
    assert embedder.model_id == f"zoobot:convnext_pico@{digest[:12]}"
    assert embedder.dim == 32 and embedder.input_size == 32
    assert embedder.licence == "apache-2.0" and "Walmsley" in embedder.citation

    rng = np.random.default_rng(0)
    images = [rng.random((48, 48, 3), dtype=np.float32) for _ in range(3)]
    vectors = embedder.embed(images)
    assert vectors.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # The same weights built straight from timm, on the same preprocessed batch, give the
    # same vectors: every tensor was loaded, and the config's normalisation was applied.
    from astrolens.ml.embedders.preprocess import to_batch

    reference = timm.create_model("convnext_pico", num_classes=0, **TINY_ARGS).eval()
    reference.load_state_dict(torch.load(io.BytesIO(files["pytorch_model.bin"])))
    with torch.inference_mode():
        expected = reference(to_batch(images, 32, (0.5,) * 3, (0.25,) * 3)).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-4)


def test_onnx_fast_path_gives_the_torch_vectors(hf_hub_home_files, tmp_path: Path) -> None:
    """`zoobot:<name>+onnx` exports the checked weights once and embeds like torch."""
    pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(1)
    images = [rng.random((40, 40, 3), dtype=np.float32) for _ in range(5)]
    torch_vectors = create_embedder("zoobot:convnext_pico", models_dir=tmp_path).embed(images)
    fast = create_embedder("zoobot:convnext_pico+onnx", models_dir=tmp_path)
    np.testing.assert_allclose(fast.embed(images), torch_vectors, atol=1e-4)
    graphs = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(graphs) == 1 and fast.model_id.endswith(graphs[0].stem.rsplit("-", 1)[-1])
    again = create_embedder("zoobot:convnext_pico+onnx", models_dir=tmp_path)
    np.testing.assert_allclose(again.embed(images), torch_vectors, atol=1e-4)  # reused graph


def test_a_damaged_blob_is_refused(hf_home: Path, tmp_path: Path) -> None:
    _write_hub_cache(hf_home, _tiny_checkpoint(), corrupt="pytorch_model.bin")
    embedder = create_embedder("zoobot:convnext_pico", models_dir=tmp_path)
    with pytest.raises(CorruptCheckpointError, match="damaged"):
        embedder.load()


def test_offline_without_a_cache_says_what_to_do(hf_home: Path, tmp_path: Path) -> None:
    embedder = create_embedder("zoobot:convnext_nano", models_dir=tmp_path)
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE"):
        embedder.load()


def test_settings_offer_the_zoobot_encoders_with_their_citation() -> None:
    zoobot = [i for i in available_embedders() if i.spec.startswith("zoobot:")]
    assert "zoobot:convnext_nano" in {i.spec for i in zoobot}
    assert all("Walmsley" in i.description and not i.offline for i in zoobot)


def test_score_cli_with_model_zoobot(
    hf_home: Path,
    isolated_home: Path,
    shared_data: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`astrolens score --model zoobot:...` runs the real CLI on real bench images with the
    cached encoder and says the licence and the citation."""
    import csv
    import logging
    import os

    from astrolens.app.cli import main

    _write_hub_cache(hf_home, _tiny_checkpoint())
    bench = shared_data / "bench"
    with (bench / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["track"] == "hsc"]
    reference = tmp_path / "reference"
    reference.mkdir()
    for r in [r for r in rows if r["split"] == "reference"][:24]:
        os.symlink(bench / r["path"], reference / Path(r["path"]).name)
    queries = [str(bench / r["path"]) for r in rows if r["split"] == "test"][:6]
    out = tmp_path / "scores.csv"
    with caplog.at_level(logging.WARNING):
        code = main(["score", "--reference", str(reference), "--model", "zoobot:convnext_pico",
                     "--output", str(out), *queries])  # fmt: skip
    assert code == 0
    with out.open() as fh:
        scored = list(csv.DictReader(fh))
    assert len(scored) == 6 and all(float(r["score"]) == float(r["score"]) for r in scored)
    assert "licence apache-2.0" in caplog.text and "Walmsley" in caplog.text


class _FakeHub:
    """A 127.0.0.1 server answering like the hub's resolve endpoint: HEAD with the commit and
    the LFS SHA-256 (X-Linked-Etag), GET with the bytes (optionally not the advertised ones)."""

    def __init__(self, files: dict[str, bytes], *, lie_about: str = "") -> None:
        import http.server
        import threading

        hub = self
        self.files, self.lie_about, self.gets = files, lie_about, 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def _file(self) -> tuple[str, bytes] | None:
                name = self.path.rsplit("/", 1)[-1]
                if f"/{REPO}/resolve/" not in self.path or name not in hub.files:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return None
                return name, hub.files[name]

            def _headers(self, name: str, data: bytes) -> None:
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()

            def do_HEAD(self) -> None:
                found = self._file()
                if found:
                    self._headers(*found)

            def do_GET(self) -> None:
                found = self._file()
                if found:
                    name, data = found
                    self._headers(name, data)
                    hub.gets += 1
                    body = data[:-1] + b"!" if name == hub.lie_about else data
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def online_hf_home(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return hf_home


def test_first_use_downloads_with_progress_then_works_offline(
    online_hf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from astrolens.ml.embedders.zoobot import ZoobotEmbedder

    files = _tiny_checkpoint()
    hub = _FakeHub(files)
    seen: list[tuple[int, int | None]] = []
    try:
        embedder = ZoobotEmbedder(
            "convnext_pico", endpoint=hub.url, progress=lambda d, t: seen.append((d, t))
        )
        embedder.load()
    finally:
        hub.close()
    weights = len(files["pytorch_model.bin"])
    assert (weights, weights) in seen  # the weights file's bar reached its whole size
    digest = hashlib.sha256(files["pytorch_model.bin"]).hexdigest()
    assert embedder.model_id == f"zoobot:convnext_pico@{digest[:12]}"
    # The server is gone: the cache alone now serves it, offline.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    again = ZoobotEmbedder("convnext_pico", offline=True)
    assert again.model_id == embedder.model_id
    again.load()
    assert again.embed([np.zeros((32, 32, 3), np.float32)]).shape == (1, 32)


def test_a_download_that_does_not_match_its_checksum_is_refused(
    online_hf_home: Path, tmp_path: Path
) -> None:
    from astrolens.ml.embedders.zoobot import ZoobotEmbedder

    hub = _FakeHub(_tiny_checkpoint(), lie_about="pytorch_model.bin")
    try:
        with pytest.raises(CorruptCheckpointError):
            ZoobotEmbedder("convnext_pico", endpoint=hub.url).load()
    finally:
        hub.close()
