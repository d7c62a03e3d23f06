"""Scores move candidates; calibrations are versioned; recent judgements are kept."""

from __future__ import annotations

from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.images import ImageGroup
from astrolens.domain.scoring import Calibration, Verdict
from astrolens.store.repository import SqliteRepository
from tests.store.builders import (
    MODEL,
    THRESHOLDS,
    decoded,
    new_image,
    now,
    result,
)


def test_score_makes_candidates_only_for_anomalies_and_near_misses(
    repo: SqliteRepository,
) -> None:
    normal = repo.add_image(decoded(1), None, None)
    anomaly = repo.add_image(decoded(2), None, None)
    repo.add_score(normal.id, MODEL, result(Verdict.NORMAL, 0.1))
    repo.add_score(anomaly.id, MODEL, result(Verdict.ANOMALY, 7.5))
    assert repo.get_candidate(normal.id) is None
    candidate = repo.get_candidate(anomaly.id)
    assert candidate is not None
    assert candidate.image == anomaly
    assert candidate.model_id == MODEL
    assert candidate.result == result(Verdict.ANOMALY, 7.5)
    assert candidate.result.thresholds == THRESHOLDS
    assert candidate.catalog_verdict is CatalogVerdict.PENDING
    assert candidate.label is None and candidate.crossmatches == ()
    assert repo.latest_score(normal.id, MODEL) == result(Verdict.NORMAL, 0.1)


def test_candidate_follows_latest_score(repo: SqliteRepository) -> None:
    image = repo.add_image(decoded(1), None, None)
    repo.add_score(image.id, MODEL, result(Verdict.ANOMALY, 5.0))
    repo.add_score(image.id, MODEL, result(Verdict.NORMAL, 0.2))  # after a recalibration
    candidate = repo.get_candidate(image.id)
    assert candidate is not None and candidate.result.verdict is Verdict.NORMAL
    assert repo.candidates() == []
    assert [c.id for c in repo.candidates([Verdict.NORMAL])] == [image.id]


def test_calibrations_are_versioned(repo: SqliteRepository) -> None:
    def calibration(group: str) -> Calibration:
        return Calibration(0, MODEL, group, 500, 0.05, THRESHOLDS, now(), bootstrap=True)

    first = repo.save_calibration(calibration("survey"))
    other = repo.save_calibration(calibration("picture"))
    second = repo.save_calibration(calibration("survey"))
    assert (first.version, other.version, second.version) == (1, 2, 3)
    assert repo.latest_calibration(MODEL, ImageGroup.SURVEY) == second
    assert repo.latest_calibration(MODEL, ImageGroup.PICTURE) == other
    assert repo.latest_calibration(MODEL, ImageGroup.TRANSIENT) is None
    assert repo.latest_calibration("other", ImageGroup.SURVEY) is None
    assert repo.calibration_by_version(2) == other
    assert repo.calibration_by_version(4) is None


def test_add_scores_returns_each_record_with_its_candidate(repo: SqliteRepository) -> None:
    stored = repo.add_scored_images([new_image(1, None), new_image(2, None)])
    ids = [s.record.id for s in stored]
    out = repo.add_scores(
        MODEL, [(ids[0], result(Verdict.NORMAL)), (ids[1], result(Verdict.NEAR_MISS))]
    )
    assert [record.id for record, _ in out] == ids
    assert out[0][1] is None
    assert out[1][1] == repo.get_candidate(ids[1])
    assert repo.count_normal_scores(MODEL, 3) == 1  # the builders' calibration version
    assert repo.count_normal_scores(MODEL, 4) == 0


def test_add_scores_moves_a_candidate_that_already_exists(repo: SqliteRepository) -> None:
    stored = repo.add_scored_images([new_image(1, None), new_image(2, None)])
    was, new = (s.record.id for s in stored)
    repo.add_score(was, MODEL, result(Verdict.NEAR_MISS, 3.0))
    moved = repo.add_scores(
        MODEL, [(was, result(Verdict.ANOMALY, 6.0)), (new, result(Verdict.NORMAL))]
    )
    candidate = moved[0][1]
    assert candidate is not None and candidate.result.verdict is Verdict.ANOMALY
    assert candidate == repo.get_candidate(was)
    assert len(repo.candidates([Verdict.ANOMALY, Verdict.NEAR_MISS])) == 1  # moved, not doubled
    assert moved[1][1] is None


def test_recent_scores_newest_first_with_their_thresholds(
    repo: SqliteRepository, gallery: dict[str, int]
) -> None:
    recent = repo.recent_scores(MODEL, 4)
    assert [r.score for r in recent] == [8.0, 0.5, 3.0, 5.0]  # the last four written
    assert all(r.thresholds is not None for r in recent)
    assert repo.recent_scores("another-model", 4) == []
