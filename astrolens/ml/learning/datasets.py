"""Labelled image sets a user can point the fine-tuning at.

- Galaxy10 DECaLS (`Galaxy10_DECals.h5`, Leung & Bovy): `images` uint8 (N, 256, 256, 3) and
  `ans` integer class labels 0..9. 17,736 images are 3.5 GB decoded, so images are read in
  slices from the file, never all at once.
- A folder-per-class tree: `ROOT/<class name>/<image files>`.

Both yield `(images, labels)` batches: float32 (H, W, 3) arrays in [0, 1] (what embedders
take) and integer class indices into `classes`. Blocking I/O: call from an executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
import numpy.typing as npt

GALAXY10_CLASSES: tuple[str, ...] = (
    "disturbed",
    "merging",
    "round_smooth",
    "in_between_round_smooth",
    "cigar_shaped_smooth",
    "barred_spiral",
    "unbarred_tight_spiral",
    "unbarred_loose_spiral",
    "edge_on_without_bulge",
    "edge_on_with_bulge",
)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}

FloatImage = npt.NDArray[np.float32]


class DatasetError(ValueError):
    """The file or folder is not a labelled set this reader understands."""


@dataclass(frozen=True)
class LabelledImages:
    """A labelled set, read lazily in batches."""

    name: str
    classes: tuple[str, ...]
    labels: npt.NDArray[np.int64]  # one per image, read up front (small)
    _reader: _Reader

    def __len__(self) -> int:
        return len(self.labels)

    def batches(
        self, indices: Sequence[int] | None = None, batch_size: int = 64
    ) -> Iterator[tuple[list[FloatImage], npt.NDArray[np.int64]]]:
        order = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            yield self._reader.read(chunk), self.labels[chunk]


class _Reader:
    def read(self, indices: npt.NDArray[np.int64]) -> list[FloatImage]:
        raise NotImplementedError


class _H5Reader(_Reader):
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, indices: npt.NDArray[np.int64]) -> list[FloatImage]:
        import h5py

        # h5py fancy indexing needs increasing indices; read sorted, then restore the order.
        order = np.argsort(indices)
        with h5py.File(self.path, "r") as handle:
            block = handle["images"][np.sort(indices).tolist()]
        restored = np.empty_like(block)
        restored[order] = block
        return [np.asarray(im, dtype=np.float32) / 255.0 for im in restored]


class _FileReader(_Reader):
    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def read(self, indices: npt.NDArray[np.int64]) -> list[FloatImage]:
        from PIL import Image

        out = []
        for i in indices.tolist():
            with Image.open(self.paths[i]) as im:
                out.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
        return out


def open_galaxy10_h5(path: Path) -> LabelledImages:
    """Galaxy10 DECaLS; raises DatasetError unless `images` is (N, H, W, 3) uint8 and `ans`
    holds N labels within 0..9."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            if "images" not in handle or "ans" not in handle:
                raise DatasetError(f"{path}: needs datasets 'images' and 'ans'")
            images = handle["images"]
            shape, dtype = images.shape, images.dtype
            labels = np.asarray(handle["ans"][()], dtype=np.int64).ravel()
    except OSError as exc:
        raise DatasetError(f"{path}: not an HDF5 file ({exc})") from exc
    if len(shape) != 4 or shape[-1] != 3 or dtype != np.uint8:
        raise DatasetError(f"{path}: 'images' must be uint8 (N, H, W, 3), is {dtype} {shape}")
    if len(labels) != shape[0]:
        raise DatasetError(f"{path}: {shape[0]} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(GALAXY10_CLASSES)):
        raise DatasetError(f"{path}: labels must be within 0..9")
    return LabelledImages(path.name, GALAXY10_CLASSES, labels, _H5Reader(path))


def open_class_folders(root: Path) -> LabelledImages:
    """`root/<class>/<image>`; classes sorted by name, hidden entries ignored."""
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        for file in sorted((root / name).rglob("*")):
            if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(file)
                labels.append(index)
    if len(classes) < 2 or not paths:
        raise DatasetError(f"{root}: needs at least two class folders with images")
    return LabelledImages(root.name, tuple(classes), np.asarray(labels), _FileReader(paths))


def open_labelled_dataset(path: Path) -> LabelledImages:
    """A Galaxy10-style .h5 file or a folder-per-class tree."""
    if path.is_dir():
        return open_class_folders(path)
    if path.suffix.lower() in {".h5", ".hdf5"}:
        return open_galaxy10_h5(path)
    raise DatasetError(f"{path}: expected a .h5 file or a folder of class folders")


class LazyImages(Sequence[FloatImage]):
    """Images read on demand, a slice at a time: a fine-tuning run passes over its images twice
    (caching, then evaluation) and must not hold thousands of decoded cutouts in memory."""

    def __init__(self, read: Callable[[Sequence[int]], list[FloatImage]], keys: Sequence[int]):
        self._read = read
        self._keys = list(keys)

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> FloatImage: ...

    @overload
    def __getitem__(self, index: slice) -> list[FloatImage]: ...

    def __getitem__(self, index: int | slice) -> FloatImage | list[FloatImage]:
        if isinstance(index, slice):
            return self._read(self._keys[index])
        return self._read([self._keys[index]])[0]

    def subset(self, positions: Sequence[int]) -> LazyImages:
        return LazyImages(self._read, [self._keys[int(p)] for p in positions])


def dataset_images(data: LabelledImages, indices: Sequence[int]) -> LazyImages:
    return LazyImages(lambda keys: data._reader.read(np.asarray(keys, dtype=np.int64)), indices)
