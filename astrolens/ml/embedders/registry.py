"""Embedder specs -> embedders. The spec (domain/embedder_spec.py: its forms, `parse` and
`format`) is what settings store and the CLI accepts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from astrolens.domain.backbones import ZOOBOT_CITATION, ZOOBOT_ENCODERS
from astrolens.domain.embedder_spec import LITE0, EmbedderSpec
from astrolens.ml.embedders.base import TorchEmbedder
from astrolens.ml.embedders.download import ProgressCallback
from astrolens.ml.embedders.errors import ModelUnavailableError, UnknownEmbedderError
from astrolens.ml.embedders.onnx_embedder import (
    OnnxLite0Embedder,
    onnxruntime_available,
    torch_available,
)
from astrolens.ml.embedders.torch_runtime import cpu_has_native_bf16

DEFAULT_EMBEDDER = LITE0


def recommended_embedder_spec() -> str:
    """The default backbone, in bf16 where the CPU runs bf16 natively.

    Measured with benchmarks/embed_speed.py on the 2-core target (AVX512-BF16/AMX): bf16
    autocast + channels_last embeds 2-3x faster than fp32 and its vectors stay within cosine
    0.997 of fp32 on real survey cutouts. The spec (and so model_id) then names the machine's
    choice: an index built with one is rebuilt, not mixed, if the other is chosen later.
    """
    if not torch_available():  # the bundle: ONNX Runtime, fp32 only
        return DEFAULT_EMBEDDER
    return _LITE0_BF16 if cpu_has_native_bf16() else DEFAULT_EMBEDDER


_LITE0_BF16 = EmbedderSpec("builtin", LITE0, precision="bf16").format()
_LITE0_ONNX = EmbedderSpec("builtin", LITE0, runtime="onnx").format()


@dataclass(frozen=True, slots=True)
class EmbedderInfo:
    spec: str
    description: str
    offline: bool  # usable without ever reaching the network


def available_embedders() -> list[EmbedderInfo]:
    """What the settings screen can offer: the built-in backbone and every published open_clip
    tag. Listing the tags imports open_clip (and torch), so call this from an executor. Local
    checkpoint files are accepted by create_embedder too but cannot be enumerated."""
    infos = [
        EmbedderInfo(DEFAULT_EMBEDDER, "EfficientNet-Lite0, ImageNet, 1280-d (default)", True),
        EmbedderInfo(_LITE0_BF16, "EfficientNet-Lite0 in bfloat16", True),
        EmbedderInfo(_LITE0_ONNX, "EfficientNet-Lite0 on ONNX Runtime", True),
    ]
    for backbone in ZOOBOT_ENCODERS:
        infos.append(
            EmbedderInfo(
                backbone.spec,
                f"{backbone.description}; ~{backbone.download_mb} MB on first use. "
                f"Cite: {ZOOBOT_CITATION}",
                False,
            )
        )
    for arch, tag in _openclip_pretrained():
        infos.append(
            EmbedderInfo(
                EmbedderSpec.openclip(arch, tag).format(), f"open_clip {arch} ({tag})", False
            )
        )
    return infos


def _openclip_pretrained() -> list[tuple[str, str]]:
    try:
        from open_clip.pretrained import list_pretrained
    except ImportError:  # open_clip is optional at run time: the default works without it
        return []
    return [(arch, tag) for arch, tag in list_pretrained()]


def create_embedder(
    spec: str,
    *,
    models_dir: Path,
    progress: ProgressCallback | None = None,
    offline: bool | None = None,
    batch_size: int = 32,
    search_dirs: Sequence[Path] = (),
) -> TorchEmbedder | OnnxLite0Embedder:
    """Build the embedder a spec names. Cheap: weights load (or download) on first use or on
    `.load()`, which the app should call in its ml executor to surface errors early.

    `offline=None` follows HF_HUB_OFFLINE. `progress(done_bytes, total_bytes_or_None)` is
    called from the downloading thread. `search_dirs` are folders with ready-made ONNX graphs
    (the bundle's resources), looked through before `models_dir`.

    Plain `efficientnet-lite0` runs on ONNX Runtime where it is installed (the default, and the
    desktop bundle) and on torch otherwise or with `+torch`: both give the same vectors under
    the same model_id.
    """
    spec = spec.strip()
    parsed = EmbedderSpec.parse(spec)
    precision, tta = parsed.precision, parsed.tta
    if parsed.family == "zoobot":
        from astrolens.ml.embedders.zoobot import ZoobotEmbedder

        zoobot = ZoobotEmbedder(
            parsed.name,
            progress=progress,
            offline=offline,
            precision=precision,
            tta=tta,
            batch_size=batch_size,
        )
        if parsed.runtime != "onnx":
            return zoobot
        if precision != "fp32" or tta != "none":
            raise UnknownEmbedderError(f"{spec!r}: ONNX Runtime runs fp32 without +d8")
        from astrolens.ml.embedders.zoobot_onnx import ZoobotOnnxEmbedder

        return ZoobotOnnxEmbedder(zoobot, models_dir=models_dir)  # type: ignore[return-value]
    if parsed.family == "openclip":
        from astrolens.ml.embedders.openclip import OpenClipEmbedder

        return OpenClipEmbedder(
            parsed.arch,
            parsed.pretrained,
            models_dir=models_dir,
            progress=progress,
            offline=offline,
            precision=precision,
            tta=tta,
            batch_size=batch_size,
        )
    want_onnx, want_torch = parsed.runtime == "onnx", parsed.runtime == "torch"
    if parsed.name == LITE0:
        from astrolens.ml.embedders.efficientnet_lite import INPUT_SIZE, EfficientNetLite0Embedder

        # ONNX Runtime is the default inference path: the same vectors as torch (cosine
        # 1.000000 on the bench, hence the same model_id) at several times the speed on a CPU.
        # `+torch` forces torch (fine-tuning works on the torch module); bf16 is torch-only.
        weights = None
        if parsed.fine_tuned is not None:
            # A fine-tuned backbone is a torch state dict: it runs on torch only.
            from astrolens.ml.embedders.efficientnet_lite import fine_tuned_path

            if want_onnx or not torch_available():
                raise ModelUnavailableError(f"{spec!r}: a fine-tuned backbone needs torch")
            weights = fine_tuned_path(models_dir, parsed.fine_tuned)
            if not weights.exists():
                raise ModelUnavailableError(f"{spec!r}: no fine-tuned weights at {weights}")
        default_onnx = (
            weights is None and not want_torch and precision == "fp32" and onnxruntime_available()
        )
        no_torch = weights is None and not torch_available() and onnxruntime_available()
        if want_onnx or default_onnx or no_torch:
            if precision != "fp32":
                raise UnknownEmbedderError(f"{spec!r}: ONNX Runtime runs fp32 only (no +bf16)")
            if want_onnx and not onnxruntime_available():
                raise ModelUnavailableError(f"{spec!r}: onnxruntime is not installed")
            try:
                return OnnxLite0Embedder(
                    models_dir=models_dir,
                    search_dirs=search_dirs,
                    tta=tta,
                    batch_size=batch_size,
                    input_size=INPUT_SIZE if parsed.input_size is None else parsed.input_size,
                )
            except ValueError as exc:
                raise UnknownEmbedderError(f"{spec!r}: {exc}") from exc

        try:
            return EfficientNetLite0Embedder(
                weights_path=weights,
                precision=precision,
                tta=tta,
                batch_size=batch_size,
                input_size=INPUT_SIZE if parsed.input_size is None else parsed.input_size,
            )
        except ValueError as exc:
            raise UnknownEmbedderError(f"{spec!r}: {exc}") from exc
    known = ", ".join(info.spec for info in available_embedders()[:3])
    raise UnknownEmbedderError(f"unknown embedder {spec!r}; try {known} or openclip:<arch>/<tag>")
