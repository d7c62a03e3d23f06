"""`zoobot:<name>+onnx`: a Zoobot encoder run by ONNX Runtime (the fast path, as for Lite0).

The graph is exported once from the checksummed torch weights into models_dir, next to a
sidecar that records the weights' SHA-256, the preprocessing and the graph's own SHA-256; a
graph whose sidecar disagrees (other weights, truncated file) is refused and re-exported. The
vectors are the torch embedder's (tests/ml/test_zoobot_embedder.py compares them), so they
share its model_id and its index.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astrolens.domain.images import FloatImage
from astrolens.domain.ports import Matrix
from astrolens.fileio import atomic
from astrolens.ml.embedders.base import embed_over_views
from astrolens.ml.embedders.errors import CorruptCheckpointError, ModelUnavailableError
from astrolens.ml.embedders.onnx_export import OPSET, _without_onnx_package, file_sha256
from astrolens.ml.embedders.preprocess import to_array_batch
from astrolens.ml.embedders.zoobot import ZoobotEmbedder


class ZoobotOnnxEmbedder:
    def __init__(self, torch_embedder: ZoobotEmbedder, *, models_dir: Path) -> None:
        self._torch = torch_embedder
        self._models_dir = models_dir
        self._session: Any = None
        self._info: dict[str, Any] = {}
        self.batch_size = torch_embedder.batch_size

    @property
    def model_id(self) -> str:
        return self._torch.model_id

    @property
    def dim(self) -> int:
        return int(self._info.get("dim", self._torch.dim))

    @property
    def licence(self) -> str | None:
        return self._torch.licence

    @property
    def citation(self) -> str:
        return self._torch.citation

    def _graph_path(self) -> Path:
        digest = self._torch.model_id.split("@", 1)[-1].split("+", 1)[0]
        return self._models_dir / "onnx" / f"zoobot-{self._torch.name}-{digest}.onnx"

    def _verified(self, path: Path) -> dict[str, Any] | None:
        sidecar = path.with_name(path.name + ".json")
        try:
            info = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            return None
        if info.get("model_id") != self._torch.model_id or not path.is_file():
            return None
        if file_sha256(path) != info.get("onnx_sha256"):
            return None
        return dict(info)

    def export(self) -> Path:
        """Export the torch encoder's graph (needs torch; ~seconds). Atomic, with sidecar."""
        self._torch.load()  # downloads and verifies the weights
        path = self._graph_path()
        info = self._verified(path)
        if info is not None:
            self._info = info
            return path
        from astrolens.ml.embedders.torch_runtime import torch_module

        torch = torch_module()
        network = self._torch._network.to(memory_format=torch.contiguous_format).eval()
        channels = 1 if self._torch._greyscale else 3
        size = self._torch.input_size
        example = torch.zeros((1, channels, size, size), dtype=torch.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(path, prefix="", suffix=".part") as tmp:
            with _without_onnx_package(), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # exporter deprecation chatter
                torch.onnx.export(
                    network,
                    (example,),
                    str(tmp),
                    dynamo=False,
                    input_names=["pixels"],
                    output_names=["features"],
                    dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
                    opset_version=OPSET,
                )
            info = {
                "model_id": self._torch.model_id,
                "input_size": size,
                "mean": list(self._torch._mean),
                "std": list(self._torch._std),
                "greyscale": self._torch._greyscale,
                "dim": self._torch.dim,
                "onnx_sha256": file_sha256(tmp),
            }
        sidecar = path.with_name(path.name + ".json")
        atomic.write_text(sidecar, json.dumps(info, indent=2), mode=0o644)
        self._info = info
        return path

    def load(self) -> None:
        if self._session is not None:
            return
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelUnavailableError("onnxruntime is not installed") from exc
        path = self._graph_path()
        info = self._verified(path)
        if info is None:
            path = self.export()
        else:
            self._info = info
        try:
            options = ort.SessionOptions()
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise CorruptCheckpointError(f"cannot open ONNX model {path}: {exc}") from exc

    def embed(self, images: Sequence[FloatImage]) -> Matrix:
        self.load()
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        size = int(self._info["input_size"])
        mean, std = tuple(self._info["mean"]), tuple(self._info["std"])
        greyscale = bool(self._info["greyscale"])

        def make(chunk: Sequence[FloatImage]) -> np.ndarray:
            batch = to_array_batch(chunk, size, mean, std)
            return batch.mean(axis=1, keepdims=True) if greyscale else batch

        features, _ = embed_over_views(
            images,
            self.batch_size,
            make,
            lambda batch: [batch],
            lambda view: (self._session.run(None, {"pixels": view})[0], None),
            want_logits=False,
        )
        return features
