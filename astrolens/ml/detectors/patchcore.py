"""PatchCore-mean: local evidence from a bank of reference patches (Roth et al. 2022, adapted).

Each image is a set of patch features (ml/features/patches.py, flattened into one row). The
bank holds the reference images' patches; an image's score is the *mean* over its patches of
the L2 distance to the nearest bank patch. (PatchCore proper takes the max; on the bench the
max was worse than the global vector, the mean better: an unusual galaxy differs in many
patches a little, a cosmic ray in one patch a lot.)

The bank is bounded: past `max_bank` patches it is reduced to a coreset by batched greedy
farthest-point sampling on a random projection (PatchCore's own recipe, picking the
`batch` farthest points per round so that a 100k-patch archive takes ~100 rounds, not 10k),
which keeps the patches that cover the reference's variety and drops near-duplicates. FAISS
(exact L2) does the nearest-patch search.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from astrolens.ml.detectors._arrays import Matrix, NotFittedError, Scores, as_matrix

DEFAULT_MAX_BANK = 20_000
PROJECTION_DIM = 32
ROUNDS = 100


def coreset(patches: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Indices of `size` patches chosen by batched farthest-point sampling."""
    n = len(patches)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    dim = patches.shape[1]
    projection = rng.standard_normal((dim, min(PROJECTION_DIM, dim))).astype(np.float32)
    z = patches @ projection
    sq = np.sum(z * z, axis=1)
    per_round = max(1, size // ROUNDS)
    chosen = [int(rng.integers(n))]
    nearest = np.sum((z - z[chosen[0]]) ** 2, axis=1)
    nearest[chosen[0]] = -1.0
    while len(chosen) < size:
        take = min(per_round, size - len(chosen))
        picks = np.argpartition(-nearest, take - 1)[:take]
        chosen.extend(int(i) for i in picks)
        # Squared distances of every point to the new picks at once: |z|^2 - 2 z.p + |p|^2.
        p = z[picks]
        d = sq[:, None] - 2.0 * (z @ p.T) + sq[picks][None, :]
        nearest = np.minimum(nearest, d.min(axis=1))
        nearest[chosen] = -1.0
    return np.asarray(chosen[:size])


class PatchCoreDetector:
    """Score = mean nearest-bank-patch distance of an image's patches (higher = stranger)."""

    def __init__(
        self,
        patch_dim: int,
        *,
        max_bank: int = DEFAULT_MAX_BANK,
        seed: int = 0,
        name: str = "patchcore",
    ) -> None:
        if patch_dim < 1:
            raise ValueError("patch_dim must be >= 1")
        self.patch_dim = patch_dim
        self.max_bank = max_bank
        self.seed = seed
        self.name = name
        self._bank: np.ndarray | None = None
        self._index: Any = None

    def _patches(self, features: Matrix) -> np.ndarray:
        x = as_matrix(features)
        if x.shape[1] % self.patch_dim:
            raise ValueError(f"rows of {x.shape[1]} numbers are not {self.patch_dim}-d patches")
        return np.ascontiguousarray(x.reshape(-1, self.patch_dim), dtype=np.float32)

    def fit(self, features: Matrix) -> PatchCoreDetector:
        patches = self._patches(features)
        if len(patches) == 0:
            raise ValueError("PatchCore needs at least one reference image")
        keep = coreset(patches, self.max_bank, self.seed)
        self._set_bank(patches[keep])
        return self

    def _set_bank(self, bank: np.ndarray) -> None:
        import faiss  # lazy: slow to import, unneeded by the default detectors

        self._bank = np.ascontiguousarray(bank, dtype=np.float32)
        self._index = faiss.IndexFlatL2(self.patch_dim)
        self._index.add(self._bank)

    @property
    def bank_size(self) -> int:
        return 0 if self._bank is None else len(self._bank)

    def score(self, features: Matrix) -> Scores:
        if self._index is None:
            raise NotFittedError(f"{self.name} is not fitted")
        x = as_matrix(features)
        patches = self._patches(x)
        squared, _ = self._index.search(patches, 1)
        distance = np.sqrt(np.maximum(squared[:, 0], 0.0)).astype(np.float64)
        return distance.reshape(len(x), -1).mean(axis=1)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self._bank is None:
            raise NotFittedError(f"{self.name} is not fitted")
        meta = {"patch_dim": self.patch_dim, "max_bank": self.max_bank, "seed": self.seed}
        return {"bank": self._bank}, meta

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], name: str
    ) -> PatchCoreDetector:
        detector = cls(int(meta["patch_dim"]), max_bank=int(meta["max_bank"]),
                       seed=int(meta["seed"]), name=name)  # fmt: skip
        detector._set_bank(arrays["bank"])
        return detector
