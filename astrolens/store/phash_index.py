"""An in-memory index of perceptual hashes for near-duplicate lookups.

SQLite cannot search by Hamming distance, and scanning rows in Python is slow; a numpy array
of 64-bit hashes answers "which stored images are within d bits" for a million images in a few
milliseconds (one XOR and a popcount per row). Loaded lazily from the store, kept in step on
insert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt


class PerceptualHashIndex:
    def __init__(self, load: Callable[[], Iterable[tuple[int, str]]]) -> None:
        self._load = load
        # Arrays with spare capacity (doubling): an insert between two look-ups appends in
        # place instead of copying the whole index, which made growing a 100k store quadratic.
        self._ids: npt.NDArray[np.int64] | None = None
        self._hashes: npt.NDArray[np.uint64] | None = None
        self._size = 0
        self._pending_ids: list[int] = []
        self._pending_hashes: list[int] = []

    @staticmethod
    def _parse(hex_hash: str) -> int | None:
        # Only 64-bit hashes (16 hex digits) are indexed; others match by equality only.
        if len(hex_hash) != 16:
            return None
        try:
            return int(hex_hash, 16)
        except ValueError:
            return None

    def _ensure(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
        if self._ids is None or self._hashes is None:
            ids, values = [], []
            for image_id, hex_hash in self._load():
                value = self._parse(hex_hash)
                if value is not None:
                    ids.append(image_id)
                    values.append(value)
            self._ids = np.asarray(ids, dtype=np.int64)
            self._hashes = np.asarray(values, dtype=np.uint64)
            self._size = len(ids)
        if self._pending_ids:
            need = self._size + len(self._pending_ids)
            if need > len(self._ids):
                capacity = max(need, 2 * len(self._ids), 64)
                self._ids = np.resize(self._ids, capacity)
                self._hashes = np.resize(self._hashes, capacity)
            self._ids[self._size : need] = self._pending_ids
            self._hashes[self._size : need] = np.asarray(self._pending_hashes, np.uint64)
            self._size = need
            self._pending_ids, self._pending_hashes = [], []
        return self._ids[: self._size], self._hashes[: self._size]

    def add(self, image_id: int, hex_hash: str) -> None:
        value = self._parse(hex_hash)
        if value is not None:
            self._pending_ids.append(image_id)
            self._pending_hashes.append(value)

    def near(self, hex_hash: str, max_distance: int) -> list[int]:
        """Ids within `max_distance` bits, nearest first."""
        value = self._parse(hex_hash)
        if value is None:
            return []
        ids, hashes = self._ensure()
        if len(ids) == 0:
            return []
        distance = np.bitwise_count(np.bitwise_xor(hashes, np.uint64(value)))
        hits = np.flatnonzero(distance <= max_distance)
        order = hits[np.argsort(distance[hits], kind="stable")]
        return [int(i) for i in ids[order]]
