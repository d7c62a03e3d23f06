"""The review queue: the gallery's filters and orders, and the learned ranking."""

from __future__ import annotations

import pytest

from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.labels import LabelValue
from astrolens.domain.records import CandidateFilter, CandidateOrder, LabelState
from astrolens.domain.scoring import Verdict
from astrolens.store.repository import SqliteRepository
from tests.store.builders import (
    MODEL,
    decoded,
    embedding,
    names,
    result,
)


def test_a_whole_ranking_is_saved_at_once(repo: SqliteRepository) -> None:
    records = [
        repo.add_scored_image(decoded(i), None, None, embedding(i), MODEL, result(Verdict.ANOMALY))
        for i in range(3)
    ]
    repo.set_rank_scores([(records[0].id, 0.9), (records[2].id, 0.1), (999_999, 0.5)])
    got = {r.id: repo.get_candidate(r.id) for r in records}
    assert got[records[0].id].rank_score == pytest.approx(0.9)
    assert got[records[1].id].rank_score is None
    assert got[records[2].id].rank_score == pytest.approx(0.1)
    ordered = repo.candidates(order=CandidateOrder.RANK_SCORE)
    assert [c.id for c in ordered] == [records[0].id, records[2].id, records[1].id]


def test_default_is_anomalies_and_near_misses_by_score(
    repo: SqliteRepository, gallery: dict[str, int]
) -> None:
    assert names(gallery, repo.candidates()) == ["a", "f", "b", "c", "d"]
    assert names(gallery, repo.candidates([Verdict.ANOMALY])) == ["a", "f", "b"]
    assert names(gallery, repo.candidates(limit=2, offset=1)) == ["f", "b"]
    assert repo.count_candidates() == 5


def test_filters(repo: SqliteRepository, gallery: dict[str, int]) -> None:
    assert names(gallery, repo.candidates(source_id="legacy")) == ["b", "d"]
    assert names(gallery, repo.candidates(label_state=LabelState.UNLABELLED)) == ["f", "b", "d"]
    assert names(gallery, repo.candidates(label_state=LabelState.LABELLED)) == ["a", "c"]
    assert names(gallery, repo.candidates(label_state=LabelState.FALSE_POSITIVE)) == ["c"]
    assert names(gallery, repo.candidates(min_score=6.0)) == ["a", "f", "b"]
    discoveries = repo.candidates(catalog_verdicts=[CatalogVerdict.POSSIBLE_DISCOVERY])
    assert names(gallery, discoveries) == ["b"]
    assert discoveries[0].catalog_verdict is CatalogVerdict.POSSIBLE_DISCOVERY
    flt = CandidateFilter(source_id="sdss", label_state=LabelState.UNLABELLED)
    assert names(gallery, repo.query_candidates(flt)) == ["f"]
    assert repo.count_candidates(flt) == 1


def test_orders(repo: SqliteRepository, gallery: dict[str, int]) -> None:
    ranked = repo.candidates(order=CandidateOrder.RANK_SCORE)
    assert names(gallery, ranked) == ["d", "b", "a", "f", "c"]  # unranked last, by score
    assert ranked[0].rank_score == pytest.approx(0.9)
    newest = repo.candidates(order=CandidateOrder.NEWEST)
    assert names(gallery, newest) == ["f", "d", "c", "b", "a"]


def test_page_carries_labels_and_crossmatches(
    repo: SqliteRepository, gallery: dict[str, int]
) -> None:
    page = {c.id: c for c in repo.candidates()}
    a, b = page[gallery["a"]], page[gallery["b"]]
    assert a.label is not None and a.label.value is LabelValue.TRUE_POSITIVE
    assert [m.service for m in b.crossmatches] == ["simbad"] and b.label is None


def test_gallery_query_uses_indexes(repo: SqliteRepository, gallery: dict[str, int]) -> None:
    plan = repo._db.execute_sql(
        "EXPLAIN QUERY PLAN SELECT * FROM candidates WHERE verdict IN ('anomaly', 'near_miss') "
        "ORDER BY score DESC LIMIT 100"
    ).fetchall()
    assert any("candidaterow_verdict_score" in str(row) for row in plan), plan


def test_keep_for_review_queues_scored_images_whatever_their_verdict(
    repo: SqliteRepository,
) -> None:
    normal = repo.add_image(decoded(1), None, None)
    repo.add_score(normal.id, MODEL, result(Verdict.NORMAL, 2.0))
    anomaly = repo.add_image(decoded(2), None, None)
    repo.add_score(anomaly.id, MODEL, result(Verdict.ANOMALY, 9.0))  # a candidate already
    unscored = repo.add_image(decoded(3), None, None)
    other_model = repo.add_image(decoded(4), None, None)
    repo.add_score(other_model.id, "other", result(Verdict.NORMAL))

    ids = [normal.id, anomaly.id, unscored.id, other_model.id]
    assert repo.keep_for_review(ids, MODEL) == 1
    kept = repo.get_candidate(normal.id)
    assert kept is not None and kept.result.verdict is Verdict.NORMAL
    assert kept.result.score == 2.0
    assert repo.get_candidate(unscored.id) is None
    assert repo.get_candidate(other_model.id) is None
    assert repo.keep_for_review(ids, MODEL) == 0  # queued once
