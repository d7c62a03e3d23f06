"""Fitted scorers saved between runs: loaded only for the exact stored calibration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from astrolens.domain.images import ImageGroup
from astrolens.ml.scoring import EnsembleScorer
from astrolens.ml.scoring.saved_state import ScorerStateFiles

SURVEY = ImageGroup.SURVEY.value  # the key of a whole group
MODEL = "test-model@1"


def _reference(n: int = 120, dim: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)) * np.linspace(0.6, 0.05, dim) + 3.0 * np.eye(dim)[0]
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _fitted() -> tuple[EnsembleScorer, object]:
    scorer = EnsembleScorer(alpha=0.1)
    cal = scorer.fit(_reference(), group=ImageGroup.SURVEY.value, model_id=MODEL)
    return scorer, dataclasses.replace(cal, version=7)  # as the store numbered it


def test_a_saved_scorer_loads_and_scores_like_the_fitted_one(tmp_path: Path) -> None:
    scorer, stored = _fitted()
    files = ScorerStateFiles(tmp_path)
    files.save(SURVEY, scorer, stored)  # type: ignore[arg-type]
    loaded = files.load(SURVEY, stored, EnsembleScorer(alpha=0.1))  # type: ignore[arg-type]
    assert loaded is not None
    queries = _reference(30, seed=5)
    assert loaded.score(queries) == scorer.score(queries)


def test_a_stale_or_foreign_save_is_ignored(tmp_path: Path) -> None:
    scorer, stored = _fitted()
    files = ScorerStateFiles(tmp_path)
    files.save(SURVEY, scorer, stored)  # type: ignore[arg-type]
    like = EnsembleScorer(alpha=0.1)
    newer = dataclasses.replace(stored, version=8)  # type: ignore[type-var]
    other_model = dataclasses.replace(stored, model_id="other@1")  # type: ignore[type-var]
    assert files.load(SURVEY, newer, like) is None  # a refit happened since
    assert files.load(SURVEY, other_model, like) is None
    assert files.load(ImageGroup.PICTURE.value, stored, like) is None  # type: ignore[arg-type]
    # Other settings (aggressive mode) must refit, not reuse the other FDR level.
    assert files.load(SURVEY, stored, EnsembleScorer(alpha=0.2)) is None  # type: ignore[arg-type]


def test_a_damaged_save_means_a_refit_not_a_crash(tmp_path: Path) -> None:
    scorer, stored = _fitted()
    files = ScorerStateFiles(tmp_path)
    files.save(SURVEY, scorer, stored)  # type: ignore[arg-type]
    path = files.path_for(SURVEY, MODEL)
    path.write_bytes(path.read_bytes()[:200])
    assert files.load(SURVEY, stored, EnsembleScorer(alpha=0.1)) is None  # type: ignore[arg-type]
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left by the save either


def test_two_kinds_of_one_group_keep_their_own_scorers(tmp_path: Path) -> None:
    """Look-alike kinds share their group's calibration rows: each kind's file names the
    calibration it belongs to, so one kind's refit never stands in for another's."""
    scorer, stored = _fitted()
    files = ScorerStateFiles(tmp_path)
    other = dataclasses.replace(stored, version=9)  # type: ignore[type-var]
    files.save(f"{SURVEY}|sdss", scorer, stored)  # type: ignore[arg-type]
    files.save(f"{SURVEY}|hsc", scorer, other)  # type: ignore[arg-type]
    assert files.saved_version(f"{SURVEY}|sdss", MODEL) == 7
    assert files.saved_version(f"{SURVEY}|hsc", MODEL) == 9
    assert files.saved_version(SURVEY, MODEL) is None
    assert files.saved_version(f"{SURVEY}|sdss", "other@1") is None
    like = EnsembleScorer(alpha=0.1)
    assert files.load(f"{SURVEY}|sdss", stored, like) is not None  # type: ignore[arg-type]
    assert files.load(f"{SURVEY}|hsc", stored, like) is None  # type: ignore[arg-type]
