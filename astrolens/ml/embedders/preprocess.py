"""From our float images ([0, 1], HxW or HxWx3, any size) to a normalised model batch.

Kept free of any one model: each embedder passes its input size and its normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from astrolens.domain.images import FloatImage
from astrolens.ml.embedders.torch_runtime import torch_module

if TYPE_CHECKING:
    import torch
    from torch import Tensor


def as_rgb(image: FloatImage) -> np.ndarray:
    """HxW (grey) or HxWx1/3/4 -> HxWx3 float32. Grey is repeated, since the backbones want RGB."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {array.shape}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        array = array[:, :, :3]  # alpha carries no sky information
    # Decoders promise [0, 1]; NaNs (masked FITS pixels) would poison the whole embedding.
    return np.clip(np.nan_to_num(array, nan=0.0), 0.0, 1.0)


def to_batch(
    images: Sequence[FloatImage],
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """Stack images into an (N, 3, size, size) float32 tensor, resized and normalised.

    The whole image is resized to a square (no centre crop): our stamps are centred on their
    object and cropping would cut off extended structure such as tidal tails. Downsampling is
    antialiased so that a 512-px cutout does not alias into noise the model has never seen.
    """
    torch = torch_module()
    import torch.nn.functional as F

    # Resize all images of one shape in a single call: per-image interpolate calls cost more
    # than the arithmetic for small stamps, and survey cutouts mostly share a shape.
    rgb = [as_rgb(image) for image in images]
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for position, array in enumerate(rgb):
        by_shape.setdefault(array.shape, []).append(position)
    batch = torch.empty((len(rgb), 3, size, size), dtype=torch.float32)
    for shape, positions in by_shape.items():
        pixels = torch.from_numpy(np.stack([rgb[p] for p in positions])).permute(0, 3, 1, 2)
        if shape[:2] != (size, size):
            pixels = F.interpolate(
                pixels, size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
        batch[positions] = pixels
    batch.clamp_(0.0, 1.0)  # bilinear antialiasing can overshoot a little
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return cast("Tensor", (batch - mean_t) / std_t)


def dihedral_views(batch: torch.Tensor) -> list[torch.Tensor]:
    """The 8 rotations/reflections of a square batch (the dihedral group D4).

    A galaxy has no preferred orientation on the sky, so averaging over these views removes the
    backbone's orientation bias from the embedding.
    """
    torch = torch_module()
    flipped = torch.flip(batch, dims=(-1,))
    return [torch.rot90(base, k, dims=(-2, -1)) for base in (batch, flipped) for k in range(4)]


# ---------------------------------------------------------------------------- numpy path
# The same preprocessing without torch, for ONNX Runtime inference (the desktop bundle ships
# no torch). torch's `interpolate(mode="bilinear", antialias=True, align_corners=False)` is
# Pillow's triangle-filter resampling, so Pillow's float ("F") resize gives the same pixels
# (tests/ml/test_onnx_embedder.py holds the two runtimes to 1e-5; measured 2e-7 here). It is
# C and releases the GIL: 3 ms for a 424-px RGB stamp against 15 ms for a numpy gather of the
# same taps, which was the largest cost of a scan after the network itself.


def _resize_channels(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) float32 -> (3, size, size) float32 by antialiased bilinear resampling."""
    from PIL import Image

    return np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(rgb[:, :, c])).resize(
                    (size, size), Image.Resampling.BILINEAR
                ),
                dtype=np.float32,
            )
            for c in range(3)
        ]
    )


def to_array_batch(
    images: Sequence[FloatImage],
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> np.ndarray:
    """`to_batch` in numpy: an (N, 3, size, size) float32 array, resized and normalised."""
    rgb = [as_rgb(image) for image in images]
    batch = np.empty((len(rgb), 3, size, size), dtype=np.float32)
    for position, array in enumerate(rgb):
        if array.shape[:2] == (size, size):
            batch[position] = array.transpose(2, 0, 1)
        else:
            batch[position] = _resize_channels(array, size)
    np.clip(batch, 0.0, 1.0, out=batch)  # bilinear antialiasing can overshoot a little
    mean_a = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    std_a = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    normalised: np.ndarray = (batch - mean_a) / std_a
    return normalised


def dihedral_array_views(batch: np.ndarray) -> list[np.ndarray]:
    """`dihedral_views` in numpy, in the same order (so TTA averages agree across runtimes)."""
    flipped = batch[..., ::-1]
    return [
        np.ascontiguousarray(np.rot90(base, k, axes=(-2, -1)))
        for base in (batch, flipped)
        for k in range(4)
    ]
