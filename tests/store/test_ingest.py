"""A new image with its vector and score: one transaction, one image or a batch."""

from __future__ import annotations

import dataclasses

import pytest

from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.embedding import Embedding, ModelMismatchError
from astrolens.domain.scoring import Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.domain.writes import NewImage
from astrolens.store.repository import SqliteRepository
from tests.store.builders import (
    MODEL,
    decoded,
    embedding,
    far_phash,
    new_image,
    result,
)


def test_add_scored_image_is_one_transaction(repo: SqliteRepository) -> None:
    image = decoded(1)
    record = repo.add_scored_image(
        image, "/i", "/t", embedding(1), MODEL, result(Verdict.NEAR_MISS, 3.0)
    )
    assert repo.get_candidate(record.id) is not None
    assert repo.embeddings(MODEL)[0] == [record.id]
    # the same content again: nothing new is written
    again = repo.add_scored_image(
        image, "/i", "/t", embedding(2), MODEL, result(Verdict.ANOMALY, 9.0)
    )
    assert again.id == record.id and repo.count_images() == 1
    assert repo.latest_score(record.id, MODEL) == result(Verdict.NEAR_MISS, 3.0)


def test_a_candidate_without_sky_position_says_so_and_never_waits_for_catalogs(
    repo: SqliteRepository,
) -> None:
    placed = repo.add_scored_image(
        decoded(1), None, None, embedding(1), MODEL, result(Verdict.ANOMALY, 5.0)
    )
    lost = repo.add_scored_image(
        decoded(2, sky=None), None, None, embedding(2), MODEL, result(Verdict.ANOMALY, 6.0)
    )
    assert repo.get_candidate(placed.id).catalog_verdict is CatalogVerdict.PENDING
    assert repo.get_candidate(lost.id).catalog_verdict is CatalogVerdict.NO_POSITION
    assert [c.id for c in repo.pending_crossmatches(10)] == [placed.id]


def test_add_scored_image_failure_leaves_nothing(
    repo: SqliteRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("disk went away mid-transaction")

    monkeypatch.setattr(repo, "_insert_score", broken)
    with pytest.raises(RuntimeError):
        repo.add_scored_image(
            decoded(1), None, None, embedding(1), MODEL, result(Verdict.ANOMALY, 9.0)
        )
    assert repo.count_images() == 0
    assert repo.embeddings(MODEL)[0] == []


def test_add_scored_image_refuses_mixed_models(repo: SqliteRepository) -> None:
    with pytest.raises(ModelMismatchError):
        repo.add_scored_image(
            decoded(1), None, None, embedding(1, model="other"), MODEL, result(Verdict.NORMAL)
        )


def test_add_scored_images_stores_many_in_one_transaction(repo: SqliteRepository) -> None:
    from astrolens.domain.writes import NewImage

    def item(seed: int, verdict: Verdict, model: str = MODEL) -> NewImage:
        # Far apart on the sky: the batch write checks look-alikes too, and these are not.
        sky = SkyPosition(10.0 * seed, 0.0)
        return NewImage(
            decoded(seed, source_id="batch", sky=sky),
            None,
            None,
            embedding(seed, model=model),
            MODEL,
            result(verdict, score=float(seed)),
        )

    stored = repo.add_scored_images([item(1, Verdict.ANOMALY), item(2, Verdict.NEAR_MISS)])
    assert [s.duplicate for s in stored] == [False, False]
    assert {c.image.provenance.uri for c in repo.candidates(limit=10)} == {
        s.record.provenance.uri for s in stored
    }
    # The same content again is left as it is; a bad item rolls the whole batch back.
    assert [s.duplicate for s in repo.add_scored_images([item(1, Verdict.ANOMALY)])] == [True]
    with pytest.raises(ModelMismatchError):
        repo.add_scored_images([item(3, Verdict.ANOMALY), item(4, Verdict.ANOMALY, "other")])
    assert repo.count_images() == 2


def test_a_batch_is_one_transaction_returning_records_and_candidates(
    repo: SqliteRepository,
) -> None:
    batch = [new_image(1, Verdict.NORMAL), new_image(2, Verdict.ANOMALY), new_image(3, None)]
    stored = repo.add_scored_images(batch)
    assert [s.duplicate for s in stored] == [False, False, False]
    assert [s.record for s in stored] == [repo.get_image(s.record.id) for s in stored]
    assert stored[0].candidate is None and stored[2].candidate is None
    # The candidate built by the write is the one a read gives: nothing to read back.
    assert stored[1].candidate == repo.get_candidate(stored[1].record.id)
    assert repo.unscored_embeddings(MODEL)[0][0] == stored[2].record.id


def test_a_batch_records_repeats_as_sightings(repo: SqliteRepository) -> None:
    first = repo.add_scored_images([new_image(1, Verdict.NORMAL)])[0]
    again = new_image(1, Verdict.NORMAL, uri="https://mirror.test/1.fits")  # same bytes
    twin = dataclasses.replace(
        new_image(5, Verdict.NORMAL), image=decoded(5, phash=far_phash(4))
    )  # different bytes, a look-alike of the next one at the same place: same object
    look_alike = new_image(4, Verdict.ANOMALY)
    stored = repo.add_scored_images([again, look_alike, twin])
    assert [s.duplicate for s in stored] == [True, False, True]
    assert stored[0].record.id == first.record.id
    assert stored[2].record.id == stored[1].record.id
    assert repo.count_images() == 2
    assert repo.get_image(first.record.id).sightings == 2  # type: ignore[union-attr]


def test_a_failing_batch_leaves_nothing(
    repo: SqliteRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = repo._upsert_embedding
    calls: list[int] = []

    def fails_on_the_second(image_id: int, emb: Embedding) -> None:
        calls.append(image_id)
        if len(calls) == 2:
            raise RuntimeError("disk went away mid-batch")
        real(image_id, emb)

    monkeypatch.setattr(repo, "_upsert_embedding", fails_on_the_second)
    with pytest.raises(RuntimeError):
        repo.add_scored_images([new_image(1, Verdict.NORMAL), new_image(2, Verdict.ANOMALY)])
    assert repo.count_images() == 0
    assert repo.candidates() == []
