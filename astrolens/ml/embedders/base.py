"""Shared batching, precision, test-time augmentation and normalisation for torch backbones.

Everything here blocks: the app calls it from its single "ml" executor thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from astrolens.domain.embedder_spec import TTA as TTA
from astrolens.domain.embedder_spec import Precision as Precision
from astrolens.domain.images import FloatImage
from astrolens.domain.ports import Matrix
from astrolens.ml.embedders.preprocess import dihedral_views, to_batch
from astrolens.ml.embedders.torch_runtime import torch_module

if TYPE_CHECKING:
    import torch

PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16")
TTAS: tuple[TTA, ...] = ("none", "dihedral")


def l2_normalise(features: np.ndarray) -> Matrix:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    # An all-zero feature row (blank image through ReLU6) stays zero instead of becoming NaN.
    unit: Matrix = (features / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return unit


Forward = Callable[[Any], tuple[np.ndarray, np.ndarray | None]]


def embed_over_views(
    images: Sequence[FloatImage],
    batch_size: int,
    make_batch: Callable[[Sequence[FloatImage]], Any],
    views_of: Callable[[Any], list[Any]],
    forward: Forward,
    *,
    want_logits: bool,
) -> tuple[Matrix, Matrix | None]:
    """Batch the images, run every view of each batch, and average: each view's features are
    L2-normalised before the mean (so that no view dominates by its norm), the mean is
    normalised again, and logits are averaged. Shared by the torch and ONNX runtimes, which
    differ only in how a batch is made and run."""
    feature_chunks: list[Matrix] = []
    logit_chunks: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        batch = make_batch(images[start : start + batch_size])
        view_features, view_logits = [], []
        for view in views_of(batch):
            features, logits = forward(view)
            view_features.append(l2_normalise(features))
            if want_logits and logits is not None:
                view_logits.append(logits)
        feature_chunks.append(l2_normalise(np.mean(view_features, axis=0)))
        if view_logits:
            logit_chunks.append(np.mean(view_logits, axis=0).astype(np.float32))
    all_logits = np.concatenate(logit_chunks) if logit_chunks else None
    return np.concatenate(feature_chunks), all_logits


class LogitsMixin:
    """`logits` and `embed_with_logits` for embedders with a classifier head and a `_run`."""

    tta: TTA

    if TYPE_CHECKING:  # provided by the embedder the mixin joins; not defined here, so the
        # mixin placed first in the bases never shadows the real one

        def _run(
            self, images: Sequence[FloatImage], tta: TTA, *, want_logits: bool
        ) -> tuple[Matrix, Matrix | None]: ...

    def logits(self, images: Sequence[FloatImage], tta: TTA | None = None) -> Matrix:
        """(N, 1000) ImageNet logits (before softmax), for MSP/Energy-style detectors."""
        _, logits = self._run(images, tta or self.tta, want_logits=True)
        assert logits is not None
        return logits

    def embed_with_logits(
        self, images: Sequence[FloatImage], tta: TTA | None = None
    ) -> tuple[Matrix, Matrix]:
        """Embedding and logits from one forward pass (what the pipeline wants per batch)."""
        features, logits = self._run(images, tta or self.tta, want_logits=True)
        assert logits is not None
        return features, logits


class TorchEmbedder(ABC):
    """Base for torch backbones: subclasses give the network, input size and normalisation.

    `precision="bf16"` runs the network under bfloat16 autocast (fast on CPUs with native bf16,
    e.g. AVX512-BF16/AMX); outputs are always float32. The precision and the default TTA are
    part of `model_id`, so vectors made differently never land in the same index.
    """

    def __init__(
        self,
        *,
        base_model_id: str,
        dim: int,
        input_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        precision: Precision = "fp32",
        tta: TTA = "none",
        batch_size: int = 32,
        channels_last: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        if tta not in TTAS:
            raise ValueError(f"tta must be one of {TTAS}, not {tta!r}")
        self._dim = dim
        self._input_size = input_size
        self._mean = tuple(mean)
        self._std = tuple(std)
        self.precision: Precision = precision
        self.tta: TTA = tta
        self.batch_size = batch_size
        # channels_last lets oneDNN pick its fast NHWC convolution kernels on CPU; it changes
        # only float rounding, so it is not part of model_id.
        self.channels_last = channels_last
        suffix = "".join(
            part for part, on in (("+bf16", precision == "bf16"), ("+d8", tta == "dihedral")) if on
        )
        self._model_id = base_model_id + suffix

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def input_size(self) -> int:
        return self._input_size

    @abstractmethod
    def load(self) -> None:
        """Load weights now (idempotent); otherwise the first embed does it."""

    @abstractmethod
    def _network_forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(pooled features (N, dim), logits (N, classes) or None) for a normalised batch."""

    def embed(self, images: Sequence[FloatImage], tta: TTA | None = None) -> Matrix:
        """(N, dim) float32, L2-normalised rows. `tta` overrides the default for this call only:
        the result then does not match `model_id`, so keep such vectors out of the index."""
        features, _ = self._run(images, tta or self.tta, want_logits=False)
        return features

    def _run(
        self, images: Sequence[FloatImage], tta: TTA, *, want_logits: bool
    ) -> tuple[Matrix, Matrix | None]:
        if tta not in TTAS:
            raise ValueError(f"tta must be one of {TTAS}, not {tta!r}")
        self.load()  # may set the input size and normalisation (open_clip learns them late)
        if len(images) == 0:
            empty_logits = np.zeros((0, 0), np.float32) if want_logits else None
            return np.zeros((0, self._dim), np.float32), empty_logits
        return embed_over_views(
            images,
            self.batch_size,
            lambda chunk: to_batch(chunk, self._input_size, self._mean, self._std),
            dihedral_views if tta == "dihedral" else lambda batch: [batch],
            self._forward_numpy,
            want_logits=want_logits,
        )

    def _forward_numpy(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        torch = torch_module()
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with (
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"),
        ):
            features, logits = self._network_forward(batch)
        return (
            features.float().numpy(),
            None if logits is None else logits.float().numpy(),
        )
