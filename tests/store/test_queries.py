"""The gallery's filters and orders, and which vectors may serve as the normal reference."""

from __future__ import annotations

import numpy as np
import pytest

from astrolens.domain.crossmatch import CatalogVerdict, CrossMatch, MatchStatus
from astrolens.domain.images import ImageGroup
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.records import CandidateFilter, CandidateOrder, LabelState
from astrolens.domain.scoring import Verdict
from astrolens.store.repository import SqliteRepository
from tests.store.builders import MODEL, decoded, embedding, now, result


@pytest.fixture
def gallery(repo: SqliteRepository) -> dict[str, int]:
    """Six images with distinct scores, sources, labels and catalog answers."""
    ids: dict[str, int] = {}
    rows = (
        ("a", Verdict.ANOMALY, 9.0, "sdss"),
        ("b", Verdict.ANOMALY, 7.0, "legacy"),
        ("c", Verdict.NEAR_MISS, 5.0, "sdss"),
        ("d", Verdict.NEAR_MISS, 3.0, "legacy"),
        ("e", Verdict.NORMAL, 0.5, "sdss"),
        ("f", Verdict.ANOMALY, 8.0, "sdss"),
    )
    for seed, (name, verdict, score, source) in enumerate(rows):
        img = repo.add_image(decoded(seed, source_id=source), None, None)
        repo.add_score(img.id, MODEL, result(verdict, score))
        ids[name] = img.id
    repo.add_label(Label(ids["a"], LabelValue.TRUE_POSITIVE, "ana", now()))
    repo.add_label(Label(ids["c"], LabelValue.FALSE_POSITIVE, "ana", now()))
    repo.save_crossmatch(ids["b"], CrossMatch("simbad", MatchStatus.NO_MATCH, 5.0))
    repo.set_rank_score(ids["d"], 0.9)
    repo.set_rank_score(ids["b"], 0.4)
    return ids


def names(repo_ids: dict[str, int], candidates: list) -> list[str]:  # type: ignore[type-arg]
    by_id = {v: k for k, v in repo_ids.items()}
    return [by_id[c.id] for c in candidates]


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


def test_reference_vectors_rules(repo: SqliteRepository) -> None:
    def add(seed: int, verdict: Verdict | None, group: ImageGroup = ImageGroup.SURVEY) -> int:
        img = repo.add_image(decoded(seed, group=group), None, None)
        repo.add_embedding(img.id, embedding(seed))
        if verdict is not None:
            repo.add_score(img.id, MODEL, result(verdict))
        return img.id

    normal = add(1, Verdict.NORMAL)
    unscored = add(2, None)
    anomaly = add(3, Verdict.ANOMALY)
    false_positive = add(4, Verdict.ANOMALY)
    true_positive = add(5, Verdict.NORMAL)  # scored normal, but a person says it is real
    became_anomaly = add(6, Verdict.NORMAL)
    picture = add(7, Verdict.NORMAL, ImageGroup.PICTURE)
    other_model = repo.add_image(decoded(8), None, None)
    repo.add_embedding(other_model.id, embedding(8, model="other"))
    repo.add_label(Label(false_positive, LabelValue.FALSE_POSITIVE, "ana", now()))
    repo.add_label(Label(true_positive, LabelValue.TRUE_POSITIVE, "ana", now()))
    repo.add_score(became_anomaly, MODEL, result(Verdict.ANOMALY))  # the latest verdict counts

    ids, matrix = repo.reference_vectors(MODEL, ImageGroup.SURVEY, 100)
    assert ids == [false_positive, unscored, normal]  # newest first
    assert anomaly not in ids and true_positive not in ids and picture not in ids
    np.testing.assert_array_equal(matrix[2], embedding(1).vector)
    assert matrix.shape == (3, embedding(1).dim)
    ids, _ = repo.reference_vectors(MODEL, ImageGroup.SURVEY, 2)
    assert ids == [false_positive, unscored]
    assert repo.reference_vectors(MODEL, ImageGroup.PICTURE, 10)[0] == [picture]
    assert repo.reference_vectors("other", ImageGroup.SURVEY, 10)[0] == [other_model.id]


def test_hourly_counts_count_what_was_stored_today(
    repo: SqliteRepository, gallery: dict[str, int]
) -> None:
    counts = repo.hourly_counts(24)
    assert len(counts) == 24 and counts[-1] == 6 and sum(counts) == 6  # all just now


def test_recent_scores_newest_first_with_their_thresholds(
    repo: SqliteRepository, gallery: dict[str, int]
) -> None:
    recent = repo.recent_scores(MODEL, 4)
    assert [r.score for r in recent] == [8.0, 0.5, 3.0, 5.0]  # the last four written
    assert all(r.thresholds is not None for r in recent)
    assert repo.recent_scores("another-model", 4) == []


def test_reference_vectors_of_one_kind(repo: SqliteRepository) -> None:
    """Only images that look alike (the kind the decoder recorded) judge each other; images
    stored before kinds existed have none and count for no kind."""
    from dataclasses import replace

    from astrolens.domain.lookalike import KIND_KEY

    def add(seed: int, kind: str | None) -> int:
        image = decoded(seed)
        if kind is not None:
            extra = {**image.provenance.extra, KIND_KEY: kind}
            image = replace(image, provenance=replace(image.provenance, extra=extra))
        img = repo.add_image(image, None, None)
        repo.add_embedding(img.id, embedding(seed))
        repo.add_score(img.id, MODEL, result(Verdict.NORMAL))
        return img.id

    hst, decals, legacy = (
        add(1, "survey|HST|stamp|colour||"),
        add(2, "survey|DECaLS|whole|colour||"),
        add(3, None),
    )
    assert repo.reference_vectors(MODEL, ImageGroup.SURVEY, 10, "survey|HST|stamp|colour||")[0] == [
        hst
    ]
    assert repo.reference_vectors(MODEL, ImageGroup.SURVEY, 10)[0] == [legacy, decals, hst]
    kinds = repo.kinds_of([hst, legacy])
    assert kinds[hst] == "survey|HST|stamp|colour||"
    assert kinds[legacy] == 'survey|SDSS DR17|whole|?|gri|0.354"/px'
