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
    return _channels_clean(image, repeat_grey=True)


def _channels_clean(image: FloatImage, *, repeat_grey: bool) -> np.ndarray:
    """HxWx3 (or HxWx1 when `repeat_grey` is False) float32 in [0, 1], in one new array."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {array.shape}")
    if array.shape[2] == 4:
        array = array[:, :, :3]  # alpha carries no sky information
    if array.shape[2] == 1 and repeat_grey:
        array = np.repeat(array, 3, axis=2)
    # Decoders promise [0, 1]; NaNs (masked FITS pixels) would poison the whole embedding.
    # fmax/fmin return the number when the other side is NaN: NaN and -inf become 0, +inf
    # becomes 1, in one copy (nan_to_num then clip made two).
    clean = np.fmax(array, np.float32(0.0))
    np.fmin(clean, np.float32(1.0), out=clean)
    return clean


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


def _resize_channels(channels: np.ndarray, size: int, out: np.ndarray) -> None:
    """(H, W, C) float32 -> `out` (3, size, size) by antialiased bilinear resampling; one
    channel (grey) is resized once and copied to all three."""
    from PIL import Image

    planes = np.ascontiguousarray(channels.transpose(2, 0, 1))  # one copy, not one per plane
    for c in range(3):
        if c < planes.shape[0]:
            resized = Image.fromarray(planes[c]).resize((size, size), Image.Resampling.BILINEAR)
            out[c] = np.asarray(resized, dtype=np.float32)
        else:
            out[c] = out[0]


def to_array_batch(
    images: Sequence[FloatImage],
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> np.ndarray:
    """`to_batch` in numpy: an (N, 3, size, size) float32 array, resized and normalised.

    Arithmetic in place on the one batch array: the temporaries of `(batch - mean) / std` and
    the per-image copies were half the cost of preprocessing, which runs on the ml thread
    between network calls."""
    batch = np.empty((len(images), 3, size, size), dtype=np.float32)
    for position, image in enumerate(images):
        channels = _channels_clean(image, repeat_grey=False)
        if channels.shape[:2] == (size, size):
            batch[position] = channels.transpose(2, 0, 1)  # broadcasts a grey plane to three
        else:
            _resize_channels(channels, size, batch[position])
    np.clip(batch, 0.0, 1.0, out=batch)  # bilinear antialiasing can overshoot a little
    batch -= np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    batch /= np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    return batch


def dihedral_array_views(batch: np.ndarray) -> list[np.ndarray]:
    """`dihedral_views` in numpy, in the same order (so TTA averages agree across runtimes)."""
    flipped = batch[..., ::-1]
    return [
        np.ascontiguousarray(np.rot90(base, k, axes=(-2, -1)))
        for base in (batch, flipped)
        for k in range(4)
    ]
