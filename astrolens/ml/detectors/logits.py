"""Logit-based detectors: maximum softmax probability (Hendrycks & Gimpel 2017) and energy
(Liu et al. 2020).

Both need class logits, and a survey reference has no classes. Without labels we make some: a
k-means clustering of the reference gives pseudo-classes, and a multinomial logistic-regression
head (scikit-learn) trained on them turns any embedding into logits. An image that sits between
or outside the clusters then gets a flat softmax (high MSP score) and a low logsumexp (high
energy score). External logits (e.g. the backbone's own ImageNet head) can be scored directly
with `msp_score` / `energy_score`.

The two formulas are a line of numpy each, so pytorch-ood (torch tensors, and not installed in
the shared environment) buys nothing here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from astrolens.ml.detectors._arrays import Matrix, NotFittedError, Scores, as_matrix
from astrolens.ml.detectors.mahalanobis import pseudo_classes


def msp_score(logits: npt.ArrayLike) -> Scores:
    """1 - max softmax probability: 0 for a confident prediction, up to 1 - 1/C when flat."""
    z = np.asarray(logits, dtype=np.float64)
    from scipy.special import softmax  # here: the default ensemble never loads scipy

    return 1.0 - softmax(z, axis=1).max(axis=1)


def energy_score(logits: npt.ArrayLike, temperature: float = 1.0) -> Scores:
    """Energy E(x) = -T * logsumexp(logits / T). In-distribution inputs have large logits and
    so low (very negative) energy: higher energy = more anomalous, no sign flip needed."""
    z = np.asarray(logits, dtype=np.float64)
    from scipy.special import logsumexp

    return -temperature * logsumexp(z / temperature, axis=1)


class PseudoClassHead:
    """k-means pseudo-classes on the reference + a logistic-regression head that gives logits."""

    def __init__(self, n_classes: int = 8, c: float = 1.0, seed: int = 0) -> None:
        self.n_classes = n_classes
        self.c = c
        self.seed = seed
        self.coef: npt.NDArray[np.float64] | None = None
        self.intercept: npt.NDArray[np.float64] | None = None

    def fit(self, features: Matrix) -> PseudoClassHead:
        from sklearn.linear_model import LogisticRegression

        x = as_matrix(features)
        labels = pseudo_classes(x, self.n_classes, self.seed)
        if len(np.unique(labels)) < 2:
            raise ValueError("the reference is too small for pseudo-classes (need >= 10 vectors)")
        head = LogisticRegression(C=self.c, max_iter=2000).fit(x, labels)
        coef, intercept = head.coef_, head.intercept_
        if coef.shape[0] == 1:  # sklearn stores a binary problem as one row: expand to 2 logits
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-1, 1]) * intercept / 2
        self.coef, self.intercept = coef.astype(np.float64), intercept.astype(np.float64)
        return self

    def logits(self, features: Matrix) -> npt.NDArray[np.float64]:
        if self.coef is None or self.intercept is None:
            raise NotFittedError("the pseudo-class head is not fitted")
        x = as_matrix(features, dim=self.coef.shape[1]).astype(np.float64)
        return x @ self.coef.T + self.intercept


class _HeadDetector:
    name: str

    def __init__(self, n_classes: int, seed: int) -> None:
        self.head = PseudoClassHead(n_classes=n_classes, seed=seed)

    def fit(self, features: Matrix) -> Any:
        self.head.fit(features)
        return self

    def _from_logits(self, logits: npt.NDArray[np.float64]) -> Scores:
        raise NotImplementedError

    def score(self, features: Matrix) -> Scores:
        return self._from_logits(self.head.logits(features))

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self.head.coef is None:
            raise NotFittedError(f"{self.name} is not fitted")
        return {"coef": self.head.coef, "intercept": self.head.intercept}, self._meta()  # type: ignore[dict-item]

    def _meta(self) -> dict[str, Any]:
        return {"n_classes": self.head.n_classes}


class MSPDetector(_HeadDetector):
    """1 - max softmax of the pseudo-class head."""

    def __init__(self, n_classes: int = 8, name: str = "msp", seed: int = 0) -> None:
        super().__init__(n_classes, seed)
        self.name = name

    def _from_logits(self, logits: npt.NDArray[np.float64]) -> Scores:
        return msp_score(logits)

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], name: str
    ) -> MSPDetector:
        det = cls(int(meta["n_classes"]), name=name)
        det.head.coef, det.head.intercept = arrays["coef"], arrays["intercept"]
        return det


class EnergyDetector(_HeadDetector):
    """Energy of the pseudo-class head's logits at temperature T."""

    def __init__(
        self, n_classes: int = 8, temperature: float = 1.0, name: str = "energy", seed: int = 0
    ) -> None:
        super().__init__(n_classes, seed)
        self.temperature = temperature
        self.name = name

    def _from_logits(self, logits: npt.NDArray[np.float64]) -> Scores:
        return energy_score(logits, self.temperature)

    def _meta(self) -> dict[str, Any]:
        return {"n_classes": self.head.n_classes, "temperature": self.temperature}

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], name: str
    ) -> EnergyDetector:
        det = cls(int(meta["n_classes"]), float(meta["temperature"]), name=name)
        det.head.coef, det.head.intercept = arrays["coef"], arrays["intercept"]
        return det
