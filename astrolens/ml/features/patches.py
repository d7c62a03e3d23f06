"""Local (patch) features of EfficientNet-Lite0 for the PatchCore-style detector.

The global vector averages an image into one point: a small arc, a tidal tail or a satellite
trail moves it little. The outputs of block 4 (40 channels, stride 8) and block 10 (112
channels, stride 16) keep a feature per 16 px patch; block 4 is average-pooled onto block 10's
14 x 14 grid, each layer's patch vector is L2-normalised (so neither layer dominates the
distance by its scale) and the two are concatenated: 152 numbers per patch. Only the central
10 x 10 patches are kept (51 % of the image): survey cutouts are centred on their object, and
the border holds neighbours and noise. The study behind the issue found mean-over-patches
distance the best label-free score on the bench; the max patch distance was worse.

Rows are flattened to (N, 100 * 152) so the matrix-based detector API and the calibrated
ensemble take them unchanged. Blocking and torch-only: run in the ml executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from astrolens.domain.images import FloatImage
from astrolens.ml.embedders.efficientnet_lite import (
    INPUT_SIZE,
    LITE_MEAN,
    LITE_STD,
    EfficientNetLite0Embedder,
)
from astrolens.ml.embedders.preprocess import to_batch
from astrolens.ml.embedders.torch_runtime import torch_module

BLOCKS = (4, 10)
GRID = 14  # block 10's grid at 224 px
CENTRE = 10  # central CENTRE x CENTRE patches kept
PATCH_DIM = 40 + 112
N_PATCHES = CENTRE * CENTRE


class Lite0PatchFeatures:
    """`embed(images) -> (N, N_PATCHES * PATCH_DIM)` float32, row = the image's patches."""

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._backbone = EfficientNetLite0Embedder(channels_last=False)
        self._outputs: dict[int, Any] = {}
        self._hooked = False

    @property
    def model_id(self) -> str:
        return f"{self._backbone.model_id}:patches-b4b10-c{CENTRE}"

    @property
    def dim(self) -> int:
        return N_PATCHES * PATCH_DIM

    def load(self) -> None:
        self._backbone.load()
        if not self._hooked:
            for index in BLOCKS:
                self._backbone._network._blocks[index].register_forward_hook(
                    lambda _m, _i, out, index=index: self._outputs.__setitem__(index, out)
                )
            self._hooked = True

    def embed(self, images: Sequence[FloatImage]) -> np.ndarray:
        self.load()
        torch = torch_module()
        chunks = []
        for start in range(0, len(images), self.batch_size):
            batch = to_batch(images[start : start + self.batch_size], INPUT_SIZE, LITE_MEAN,
                             LITE_STD)  # fmt: skip
            with torch.inference_mode():
                self._run_to_block(batch)
                chunks.append(self._patches())
        if not chunks:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(chunks)

    def _run_to_block(self, batch: Any) -> None:
        """Stem and blocks up to the last one needed: the rest of the network is skipped."""
        network = self._backbone._network
        x = network._swish(network._bn0(network._conv_stem(batch)))
        last = max(BLOCKS)
        drop = network._global_params.drop_connect_rate
        for idx, block in enumerate(network._blocks[: last + 1]):
            rate = drop * float(idx) / len(network._blocks) if drop else None
            x = block(x, drop_connect_rate=rate)

    def _patches(self) -> np.ndarray:
        torch = torch_module()
        layers = []
        for index in BLOCKS:
            out = self._outputs[index]
            if out.shape[-1] != GRID:
                out = torch.nn.functional.adaptive_avg_pool2d(out, GRID)
            layers.append(torch.nn.functional.normalize(out, dim=1))
        grid = torch.cat(layers, dim=1)  # (N, C, 14, 14)
        lo = (GRID - CENTRE) // 2
        centre = grid[:, :, lo : lo + CENTRE, lo : lo + CENTRE]
        patches = centre.permute(0, 2, 3, 1).reshape(len(grid), -1)
        return np.ascontiguousarray(patches.float().numpy(), dtype=np.float32)
