"""Round-trips through SQLite for every table, and the rules the pipeline relies on."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from astrolens.domain.crossmatch import CatalogObject, CatalogVerdict, CrossMatch, MatchStatus
from astrolens.domain.embedding import Embedding, ModelMismatchError
from astrolens.domain.images import ImageGroup
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.ports import (
    CandidateStore,
    CrossMatchStore,
    ImageStore,
    LearningStore,
    Repository,
    RunStore,
    ScoreStore,
    StatsStore,
    VectorStore,
)
from astrolens.domain.records import CandidateOrder, TrainingStatus
from astrolens.domain.scoring import Calibration, Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.domain.writes import NewImage
from astrolens.store.repository import SqliteRepository
from tests.store.builders import DIM, MODEL, THRESHOLDS, decoded, embedding, now, result


@pytest.mark.parametrize(
    "port",
    [
        ImageStore,
        VectorStore,
        ScoreStore,
        CandidateStore,
        CrossMatchStore,
        LearningStore,
        RunStore,
        StatsStore,
    ],
)
def test_implements_every_store_port(repo: SqliteRepository, port: type) -> None:
    port_methods = {
        name for name in vars(port) if not name.startswith("_") and callable(getattr(port, name))
    }
    assert port_methods, "the Protocol should declare methods"
    for name in port_methods:
        assert callable(getattr(repo, name)), name


def test_the_repository_port_is_the_union_of_the_store_ports() -> None:
    assert set(Repository.__mro__) >= {
        ImageStore,
        VectorStore,
        ScoreStore,
        CandidateStore,
        CrossMatchStore,
        LearningStore,
        RunStore,
        StatsStore,
    }


def test_image_round_trip(repo: SqliteRepository) -> None:
    image = decoded(1, parent_uri="https://example.test/frame.fits")
    record = repo.add_image(image, "/blobs/a.fits", "/blobs/a.png")
    again = repo.get_image(record.id)
    assert again == record
    assert record.content_hash == image.content_hash
    assert record.perceptual_hash == image.perceptual_hash
    assert record.provenance.sky == SkyPosition(150.0, 2.0)
    assert record.provenance.survey == "SDSS DR17"
    assert record.provenance.pixel_scale_arcsec == pytest.approx(0.396)
    assert record.provenance.extra == {"run": 1, "airmass": 1.25}
    assert (record.width, record.height, record.group) == (16, 16, ImageGroup.SURVEY)
    assert record.parent_uri == "https://example.test/frame.fits"
    assert (record.image_path, record.thumbnail_path, record.sightings) == (
        "/blobs/a.fits",
        "/blobs/a.png",
        1,
    )
    assert repo.count_images() == 1


def test_image_without_sky_position(repo: SqliteRepository) -> None:
    record = repo.add_image(decoded(2, sky=None, group=ImageGroup.PICTURE), None, None)
    assert record.provenance.sky is None
    assert record.group is ImageGroup.PICTURE


def test_same_content_is_stored_once(repo: SqliteRepository) -> None:
    first = repo.add_image(decoded(1), None, None)
    second = repo.add_image(decoded(1, uri="https://mirror.test/1.fits"), None, None)
    assert second.id == first.id
    assert repo.count_images() == 1


def test_find_duplicate_by_content_then_perceptual_hash(repo: SqliteRepository) -> None:
    stored = repo.add_image(decoded(1, phash="00000000000000ff"), None, None)
    same_bytes = dataclasses.replace(decoded(1, phash="ffffffffffffffff"))
    assert repo.find_duplicate(same_bytes) == stored
    # A re-encoded copy: other bytes, a hash 2 bits away.
    assert repo.find_duplicate(decoded(2, phash="00000000000000fc")) == stored
    assert repo.find_duplicate(decoded(3, phash="000000000000ff00")) is None


def test_look_alike_stamps_of_one_frame_or_far_apart_are_not_duplicates(
    repo: SqliteRepository,
) -> None:
    frame = "file:///frame.fits"
    a = dataclasses.replace(decoded(1, phash="00000000000000ff"), parent_uri=frame)
    stored = repo.add_image(a, None, None)
    twin = dataclasses.replace(decoded(2, phash="00000000000000ff"), parent_uri=frame)
    assert repo.find_duplicate(twin) is None  # another star in the same frame
    elsewhere = dataclasses.replace(decoded(3, phash="00000000000000ff"), parent_uri=None)
    assert repo.find_duplicate(elsewhere) == stored


def test_sightings_and_has_uri(repo: SqliteRepository) -> None:
    stored = repo.add_image(decoded(1, parent_uri="https://example.test/frame.fits"), None, None)
    assert repo.has_uri(stored.provenance.uri)
    assert repo.has_uri("https://example.test/frame.fits")
    assert not repo.has_uri("https://mirror.test/copy.jpg")
    repo.record_sighting(stored.id, "https://mirror.test/copy.jpg")
    assert repo.has_uri("https://mirror.test/copy.jpg")
    record = repo.get_image(stored.id)
    assert record is not None and record.sightings == 2


def test_quarantine_counts_and_blocks_refetch(repo: SqliteRepository) -> None:
    repo.quarantine("https://example.test/broken.fits", "truncated FITS")
    repo.quarantine("https://example.test/broken.fits", "still truncated")
    entries = repo.quarantined()
    assert [(e.uri, e.reason, e.count) for e in entries] == [
        ("https://example.test/broken.fits", "still truncated", 2)
    ]
    assert repo.has_uri("https://example.test/broken.fits")


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


def _error(service: str) -> CrossMatch:
    return CrossMatch(service, MatchStatus.ERROR, 5.0, reason="HTTP 503", checked_at=now())


def _match(service: str, object_type: str = "G") -> CrossMatch:
    obj = CatalogObject("NGC 1234", object_type, SkyPosition(150.001, 2.0), 3.6, 0.02, service)
    return CrossMatch(service, MatchStatus.MATCH, 5.0, (obj,), checked_at=now(), catalog="basic")


def test_crossmatch_round_trip_and_catalog_verdict(repo: SqliteRepository) -> None:
    image = repo.add_image(decoded(1), None, None)
    repo.add_score(image.id, MODEL, result(Verdict.ANOMALY, 5.0))
    repo.save_crossmatch(image.id, _error("ned"))
    repo.save_crossmatch(
        image.id, CrossMatch("simbad", MatchStatus.NO_MATCH, 5.0, checked_at=now())
    )
    candidate = repo.get_candidate(image.id)
    assert candidate is not None
    assert candidate.catalog_verdict is CatalogVerdict.INCOMPLETE
    repo.save_crossmatch(image.id, _match("ned"))
    candidate = repo.get_candidate(image.id)
    assert candidate is not None
    assert candidate.catalog_verdict is CatalogVerdict.KNOWN_OBJECT
    by_service = {m.service: m for m in candidate.crossmatches}
    assert set(by_service) == {"ned", "simbad"}  # one row per service: the latest answer
    ned = by_service["ned"]
    assert ned.status is MatchStatus.MATCH and ned.catalog == "basic"
    assert ned.objects[0].name == "NGC 1234"
    assert ned.objects[0].position == SkyPosition(150.001, 2.0)
    assert ned.objects[0].redshift == pytest.approx(0.02)
    assert ned.objects[0].service == "ned"


def test_pending_crossmatches_respect_backoff(db_path: Path) -> None:
    repo = SqliteRepository(db_path, retry_delay=lambda attempts: timedelta(hours=attempts))
    try:
        fresh = repo.add_image(decoded(1), None, None)
        failed = repo.add_image(decoded(2), None, None)
        no_sky = repo.add_image(decoded(3, sky=None), None, None)
        near = repo.add_image(decoded(4), None, None)
        done = repo.add_image(decoded(5), None, None)
        for img, score in ((fresh, 5.0), (failed, 9.0), (no_sky, 8.0), (done, 7.0)):
            repo.add_score(img.id, MODEL, result(Verdict.ANOMALY, score))
        repo.add_score(near.id, MODEL, result(Verdict.NEAR_MISS, 1.0))
        repo.save_crossmatch(failed.id, _error("simbad"))
        repo.save_crossmatch(done.id, CrossMatch("simbad", MatchStatus.NO_MATCH, 5.0))
        assert [c.id for c in repo.pending_crossmatches(10)] == [fresh.id]
        both = repo.pending_crossmatches(10, verdicts=(Verdict.ANOMALY, Verdict.NEAR_MISS))
        assert [c.id for c in both] == [fresh.id, near.id]  # anomalies first
    finally:
        repo.close()
    repo = SqliteRepository(db_path, retry_delay=lambda attempts: timedelta(0))
    try:
        repo.save_crossmatch(failed.id, _error("simbad"))  # attempt 2, due at once
        pending = repo.pending_crossmatches(10)
        assert [c.id for c in pending] == [failed.id, fresh.id]  # by score
        assert pending[0].catalog_verdict is CatalogVerdict.INCOMPLETE
        attempts = repo._db.execute_sql(
            "SELECT attempts FROM crossmatches WHERE image_id = ?", (failed.id,)
        ).fetchone()[0]
        assert attempts == 2
    finally:
        repo.close()


def test_labels_round_trip_and_mark_candidates(repo: SqliteRepository) -> None:
    image = repo.add_image(decoded(1), None, None)
    repo.add_score(image.id, MODEL, result(Verdict.ANOMALY, 5.0))
    first = Label(image.id, LabelValue.UNSURE, "ana", now(), note="faint", origin="notification")
    second = Label(image.id, LabelValue.TRUE_POSITIVE, "ana", now(), note="a ring!")
    repo.add_label(first)
    repo.add_label(second)
    assert repo.labels() == [first, second]
    assert repo.labels(image.id) == [first, second]
    candidate = repo.get_candidate(image.id)
    assert candidate is not None and candidate.label == second


def test_training_runs_round_trip(repo: SqliteRepository) -> None:
    run = repo.add_training_run(MODEL, {"epochs": 3, "lr": 1e-4}, "120 labels, 40 positive")
    assert run.status is TrainingStatus.RUNNING and run.finished_at is None
    finished = repo.finish_training_run(
        run.id,
        status=TrainingStatus.FINISHED,
        metrics_before={"auroc": 0.81},
        metrics_after={"auroc": 0.86},
        promoted=True,
    )
    assert finished.parameters == {"epochs": 3, "lr": 1e-4}
    assert finished.metrics_after == {"auroc": 0.86} and finished.promoted
    assert finished.finished_at is not None
    assert repo.training_runs() == [finished]
    assert repo.training_runs("other") == []


def test_cursors_and_key_values(repo: SqliteRepository) -> None:
    assert repo.get_cursor("sdss") is None
    repo.set_cursor("sdss", "page=1")
    repo.set_cursor("sdss", "page=2")
    assert repo.get_cursor("sdss") == "page=2"
    repo.set_value("index.built_for", MODEL)
    repo.set_value("index.built_for", "other")
    assert repo.get_value("index.built_for") == "other"
    assert repo.get_value("missing") is None


def test_stats(repo: SqliteRepository) -> None:
    for seed, verdict, source in (
        (1, Verdict.NORMAL, "sdss"),
        (2, Verdict.NORMAL, "sdss"),
        (3, Verdict.ANOMALY, "legacy"),
        (4, Verdict.NEAR_MISS, "sdss"),
    ):
        img = repo.add_image(decoded(seed, source_id=source), None, None)
        repo.add_score(img.id, MODEL, result(verdict))
    repo.add_image(decoded(5), None, None)  # not scored yet
    repo.add_label(Label(3, LabelValue.FALSE_POSITIVE, "ana", now()))
    repo.quarantine("bad://1", "html page")
    stats = repo.stats()
    assert stats.images == 5 and stats.today == 5
    assert stats.by_verdict == {Verdict.NORMAL: 2, Verdict.ANOMALY: 1, Verdict.NEAR_MISS: 1}
    assert stats.by_source == {"sdss": 4, "legacy": 1}
    assert (stats.candidates, stats.labelled, stats.quarantined) == (2, 1, 1)


def test_integrity_check_and_pragmas(repo: SqliteRepository) -> None:
    assert repo.integrity_check() == "ok"
    db = repo._db
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_two_open_repositories_do_not_mix(tmp_path: Path) -> None:
    a = SqliteRepository(tmp_path / "a.sqlite3")
    b = SqliteRepository(tmp_path / "b.sqlite3")
    try:
        a.add_image(decoded(1), None, None)
        assert b.count_images() == 0 and a.count_images() == 1
    finally:
        a.close()
        b.close()


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


def _far_phash(k: int) -> str:
    """Perceptual hashes at least 32 bits apart, so only content makes duplicates."""
    return f"{int(np.random.default_rng(k).integers(0, 2**63)):016x}"


def _new(seed: int, verdict: Verdict | None, **kw: object) -> NewImage:
    image = decoded(seed, phash=_far_phash(seed), **kw)  # type: ignore[arg-type]
    scored = result(verdict, float(seed)) if verdict is not None else None
    return NewImage(image, None, None, embedding(seed), MODEL, scored)


def test_a_batch_is_one_transaction_returning_records_and_candidates(
    repo: SqliteRepository,
) -> None:
    batch = [_new(1, Verdict.NORMAL), _new(2, Verdict.ANOMALY), _new(3, None)]
    stored = repo.add_scored_images(batch)
    assert [s.duplicate for s in stored] == [False, False, False]
    assert [s.record for s in stored] == [repo.get_image(s.record.id) for s in stored]
    assert stored[0].candidate is None and stored[2].candidate is None
    # The candidate built by the write is the one a read gives: nothing to read back.
    assert stored[1].candidate == repo.get_candidate(stored[1].record.id)
    assert repo.unscored_embeddings(MODEL)[0][0] == stored[2].record.id


def test_a_batch_records_repeats_as_sightings(repo: SqliteRepository) -> None:
    first = repo.add_scored_images([_new(1, Verdict.NORMAL)])[0]
    again = _new(1, Verdict.NORMAL, uri="https://mirror.test/1.fits")  # same bytes
    twin = dataclasses.replace(
        _new(5, Verdict.NORMAL), image=decoded(5, phash=_far_phash(4))
    )  # different bytes, a look-alike of the next one at the same place: same object
    look_alike = _new(4, Verdict.ANOMALY)
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
        repo.add_scored_images([_new(1, Verdict.NORMAL), _new(2, Verdict.ANOMALY)])
    assert repo.count_images() == 0
    assert repo.candidates() == []


def test_all_catalog_answers_are_saved_together_and_the_candidate_returned(
    repo: SqliteRepository,
) -> None:
    stored = repo.add_scored_images([_new(2, Verdict.ANOMALY)])[0]
    answers = [
        CrossMatch("simbad", MatchStatus.NO_MATCH, 5.0, checked_at=now()),
        CrossMatch("ned", MatchStatus.ERROR, 5.0, reason="timeout", checked_at=now()),
    ]
    candidate = repo.save_crossmatches(stored.record.id, answers)
    assert candidate == repo.get_candidate(stored.record.id)
    assert candidate is not None and len(candidate.crossmatches) == 2
    assert candidate.catalog_verdict is not CatalogVerdict.PENDING


def test_add_scores_returns_each_record_with_its_candidate(repo: SqliteRepository) -> None:
    stored = repo.add_scored_images([_new(1, None), _new(2, None)])
    ids = [s.record.id for s in stored]
    out = repo.add_scores(
        MODEL, [(ids[0], result(Verdict.NORMAL)), (ids[1], result(Verdict.NEAR_MISS))]
    )
    assert [record.id for record, _ in out] == ids
    assert out[0][1] is None
    assert out[1][1] == repo.get_candidate(ids[1])
    assert repo.count_normal_scores(MODEL, 3) == 1  # the builders' calibration version
    assert repo.count_normal_scores(MODEL, 4) == 0
