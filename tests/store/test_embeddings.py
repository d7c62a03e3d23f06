"""Vectors per model, and which of them may serve as the normal reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from astrolens.domain.embedding import Embedding
from astrolens.domain.images import ImageGroup
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.reference import REFERENCE, ReferenceRule
from astrolens.domain.scoring import Verdict
from astrolens.store.repository import SqliteRepository
from tests.store.builders import (
    DIM,
    MODEL,
    decoded,
    embedding,
    now,
    result,
)


def test_embeddings_round_trip_and_replace(repo: SqliteRepository) -> None:
    a = repo.add_image(decoded(1), None, None)
    b = repo.add_image(decoded(2, group=ImageGroup.PICTURE), None, None)
    assert [r.id for r in repo.images_missing_embedding(MODEL, 10)] == [a.id, b.id]
    repo.add_embedding(a.id, embedding(1))
    repo.add_embedding(b.id, embedding(2))
    repo.add_embedding(a.id, embedding(3))  # a re-embed replaces, never duplicates
    ids, matrix = repo.embeddings(MODEL)
    assert ids == [a.id, b.id]
    assert matrix.dtype == np.float32 and matrix.shape == (2, DIM)
    np.testing.assert_array_equal(matrix[0], embedding(3).vector)
    ids, matrix = repo.embeddings(MODEL, ImageGroup.PICTURE)
    assert ids == [b.id]
    np.testing.assert_array_equal(matrix[0], embedding(2).vector)
    assert repo.images_missing_embedding(MODEL, 10) == []
    assert [r.id for r in repo.images_missing_embedding("openclip:ViT-B-32", 1)] == [a.id]
    assert repo.embeddings("other") == ([], pytest.approx(np.zeros((0, 0))))


def test_embeddings_of_reads_only_the_images_asked_for(repo: SqliteRepository) -> None:
    records = [repo.add_image(decoded(i), None, None) for i in range(1203)]
    for r in records[::2]:  # every other image has a vector
        repo.add_embedding(r.id, embedding(r.id))
    repo.add_embedding(records[1].id, Embedding("other", np.ones(3, np.float32)))
    wanted = [r.id for r in records[:1100]] + [999_999]  # > 2 chunks, and an unknown id
    ids, matrix = repo.embeddings_of(MODEL, list(reversed(wanted)))
    assert ids == [r.id for r in records[:1100:2]]  # ascending, only those with a vector
    assert matrix.shape == (550, DIM)
    np.testing.assert_array_equal(matrix[3], embedding(records[6].id).vector)
    assert repo.embeddings_of(MODEL, []) == ([], pytest.approx(np.zeros((0, 0))))
    assert repo.embeddings_of("other", [records[1].id])[0] == [records[1].id]


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


@pytest.mark.parametrize(
    "rule",
    [
        REFERENCE,
        ReferenceRule(unscored=False),
        ReferenceRule(verdicts=frozenset({Verdict.NORMAL, Verdict.NEAR_MISS})),
        ReferenceRule(vouched=frozenset(), vetoed=frozenset()),
        ReferenceRule(vetoed=frozenset({LabelValue.TRUE_POSITIVE, LabelValue.UNSURE})),
    ],
)
def test_the_reference_query_picks_what_the_rule_admits(
    repo: SqliteRepository, rule: ReferenceRule
) -> None:
    """Every latest verdict crossed with every latest label: the query and the domain rule
    (domain/reference.py) agree on each image."""
    verdicts: list[Verdict | None] = [None, Verdict.NORMAL, Verdict.NEAR_MISS, Verdict.ANOMALY]
    labels: list[LabelValue | None] = [None, *LabelValue]
    expected: set[int] = set()
    for seed, (verdict, label) in enumerate(itertools.product(verdicts, labels), start=1):
        img = repo.add_image(decoded(seed), None, None)
        repo.add_embedding(img.id, embedding(seed))
        if verdict is not None:
            repo.add_score(img.id, MODEL, result(Verdict.ANOMALY))  # only the latest counts
            repo.add_score(img.id, MODEL, result(verdict))
        if label is not None:
            repo.add_label(Label(img.id, LabelValue.FALSE_POSITIVE, "ana", now()))
            repo.add_label(Label(img.id, label, "ana", now()))  # only the latest counts
        if rule.admits(verdict, label):
            expected.add(img.id)

    ids, _ = repo.reference_vectors(MODEL, ImageGroup.SURVEY, 1000, rule=rule)
    assert set(ids) == expected
    assert 0 < len(expected) < len(verdicts) * len(labels)
    scored = sum(1 for v in verdicts for _ in labels if v in rule.verdicts)
    assert repo.count_normal_scores(MODEL, 3, rule=rule) == scored  # the builders' version


def test_one_images_vector_of_one_model(repo: SqliteRepository) -> None:
    image = repo.add_image(decoded(1), None, None)
    assert repo.embedding_vector(image.id, MODEL) is None
    repo.add_embedding(image.id, embedding(1))
    vector = repo.embedding_vector(image.id, MODEL)
    assert vector is not None
    np.testing.assert_array_equal(vector, embedding(1).vector)
    assert repo.embedding_vector(image.id, "other") is None
