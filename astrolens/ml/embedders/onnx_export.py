"""EfficientNet-Lite0 -> ONNX, for inference with ONNX Runtime instead of torch.

Why export at all: torch (with its CUDA libraries) makes a 4+ GB desktop bundle; ONNX Runtime
is ~80 MB and ran this network ~2x faster than torch on the 2-core target (see
benchmarks/onnx_speed.py). Export needs torch, so it happens where torch is installed:
`tools/export_onnx.py` at bundle build time (the bundle ships the .onnx file and no torch),
or lazily on the first `efficientnet-lite0+onnx` use in a source install (cached in the models
dir). A sidecar JSON records the weights the graph came from and the graph's own SHA-256, so a
truncated or foreign file is refused instead of producing vectors under the wrong model id.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astrolens.fileio import atomic
from astrolens.ml.embedders.efficientnet_lite import (
    ARCH,
    INPUT_SIZE,
    WEIGHTS_SHA256,
    EfficientNetLite0Embedder,
)
from astrolens.ml.embedders.errors import CorruptCheckpointError
from astrolens.ml.embedders.torch_runtime import torch_module

# opset 17 runs on every ONNX Runtime since 1.13; the network needs nothing newer.
OPSET = 17
INPUT_NAME = "pixels"
OUTPUT_NAMES = ("features", "logits")


def onnx_file_name(input_size: int = INPUT_SIZE) -> str:
    return f"{ARCH}-{WEIGHTS_SHA256[:8]}-r{input_size}.onnx"


@dataclass(frozen=True, slots=True)
class OnnxModelInfo:
    """The sidecar `<model>.onnx.json`: what the graph is and how to check it."""

    arch: str
    weights_sha256: str
    input_size: int
    onnx_sha256: str

    @staticmethod
    def sidecar(path: Path) -> Path:
        return path.with_name(path.name + ".json")

    def write(self, path: Path) -> None:
        atomic.write_bytes(self.sidecar(path), json.dumps(self.as_json(), indent=2).encode())

    def as_json(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "weights_sha256": self.weights_sha256,
            "input_size": self.input_size,
            "onnx_sha256": self.onnx_sha256,
        }

    @classmethod
    def read(cls, path: Path) -> OnnxModelInfo:
        try:
            data = json.loads(cls.sidecar(path).read_text())
            return cls(
                arch=str(data["arch"]),
                weights_sha256=str(data["weights_sha256"]),
                input_size=int(data["input_size"]),
                onnx_sha256=str(data["onnx_sha256"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptCheckpointError(f"{path}: missing or unreadable sidecar: {exc}") from exc


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_onnx_model(path: Path, input_size: int) -> OnnxModelInfo:
    """Check that `path` is the Lite0 graph made from our checksummed weights, intact."""
    info = OnnxModelInfo.read(path)
    if (info.arch, info.weights_sha256, info.input_size) != (ARCH, WEIGHTS_SHA256, input_size):
        raise CorruptCheckpointError(
            f"{path} was exported from {info.arch}@{info.weights_sha256[:8]} at "
            f"{info.input_size} px, not {ARCH}@{WEIGHTS_SHA256[:8]} at {input_size} px"
        )
    if file_sha256(path) != info.onnx_sha256:
        raise CorruptCheckpointError(f"{path} fails its checksum: re-export it")
    return info


def export_efficientnet_lite0(path: Path, input_size: int = INPUT_SIZE) -> OnnxModelInfo:
    """Export the checksummed Lite0 weights to `path` (atomically) with its sidecar. Needs
    torch; blocking (~5 s): call from an executor or a build script."""
    torch = torch_module()
    embedder = EfficientNetLite0Embedder(channels_last=False, input_size=input_size)
    embedder.load()  # verifies the weights' SHA-256

    class PooledAndLogits(torch.nn.Module):  # type: ignore[misc, name-defined]
        """The same two outputs as EfficientNetLite0Embedder._network_forward."""

        def __init__(self, network: Any) -> None:
            super().__init__()
            self.network = network

        def forward(self, pixels: Any) -> tuple[Any, Any]:
            pooled = self.network.extract_features(pixels).mean(dim=(2, 3))
            return pooled, self.network._fc(pooled)

    module = PooledAndLogits(embedder._network.to(memory_format=torch.contiguous_format)).eval()
    example = torch.zeros((1, 3, input_size, input_size), dtype=torch.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path, prefix="", suffix=".part") as tmp:
        with _without_onnx_package(), torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter warns about its own deprecation and constant folding;
            # neither changes the graph, and the warnings would drown the build log.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                str(tmp),
                dynamo=False,  # the TorchScript exporter needs no onnxscript
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)},
                opset_version=OPSET,
            )
        info = OnnxModelInfo(ARCH, WEIGHTS_SHA256, input_size, file_sha256(tmp))
    info.write(path)
    return info


@contextlib.contextmanager
def _without_onnx_package() -> Iterator[None]:
    """Let the TorchScript exporter run where the `onnx` package is not installed.

    torch 2.14's exporter always passes its finished protobuf through
    `_add_onnxscript_fn`, which only splices in custom onnxscript functions and imports `onnx`
    to do so; a plain CNN has none, so the bytes pass through unchanged. Where `onnx` is
    installed nothing is patched. The result is checked by loading it in ONNX Runtime and
    comparing embeddings with torch (tests/ml/test_onnx_embedder.py).
    """
    try:
        import onnx  # noqa: F401

        yield
        return
    except ImportError:
        pass
    from torch.onnx._internal.torchscript_exporter import utils as exporter

    original = exporter.onnx_proto_utils._add_onnxscript_fn
    exporter.onnx_proto_utils._add_onnxscript_fn = lambda model_bytes, _opsets: model_bytes
    try:
        yield
    finally:
        exporter.onnx_proto_utils._add_onnxscript_fn = original


def main() -> int:
    """`python -m astrolens.ml.embedders.onnx_export [DIR]`: write the default backbone's ONNX
    graph into DIR (default: the package's resources/models), reusing one that verifies.
    `make setup` runs it, so source installs infer with ONNX Runtime from the first image."""
    import sys

    from astrolens.domain.resources import bundled_models_dir

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else bundled_models_dir()
    target = folder / onnx_file_name(INPUT_SIZE)
    try:
        verify_onnx_model(target, INPUT_SIZE)
        print(f"ONNX graph up to date: {target}")
    except Exception:
        export_efficientnet_lite0(target, INPUT_SIZE)
        print(f"exported the ONNX graph: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
