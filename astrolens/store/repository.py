"""The SQLite repository: every table behind methods that take and return domain objects.

Threading: every method blocks. The app creates, calls and closes one ``SqliteRepository``
on its single-thread "db" executor, never on the event loop. peewee keeps one connection per
thread, so that executor owns the only connection; a method called from another thread
would silently open a second connection (still correct under WAL, but not the design).
Opening is cheap when the schema is current: one connection, a few PRAGMAs, one SELECT.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import numpy as np
from peewee import JOIN, fn
from peewee import OperationalError as PeeweeOperationalError

from astrolens.domain.annotation import Annotation
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict, CrossMatch, MatchStatus, catalog_verdict
from astrolens.domain.dedupe import DEFAULT_MAX_DISTANCE, could_be_same_object
from astrolens.domain.embedding import Embedding, ModelMismatchError, require_same_model
from astrolens.domain.errors import StorageFullError
from astrolens.domain.images import DecodedImage, ImageGroup, ImageRecord
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.lookalike import stored_kind
from astrolens.domain.ports import Matrix
from astrolens.domain.records import (
    DEFAULT_CANDIDATE_VERDICTS,
    CandidateFilter,
    CandidateOrder,
    LabelState,
    QuarantineEntry,
    StoreStats,
    TrainingRun,
    TrainingStatus,
)
from astrolens.domain.scoring import Calibration, ScoreResult, Verdict
from astrolens.domain.writes import NewImage, StoredImage
from astrolens.store import convert
from astrolens.store.database import execute, execute_many, is_disk_full, open_database
from astrolens.store.migrations import MIGRATIONS, Migration, migrate
from astrolens.store.models import (
    ALL_MODELS,
    AnnotationRow,
    CalibrationRow,
    CandidateRow,
    CrossMatchRow,
    EmbeddingRow,
    ImageRow,
    KeyValueRow,
    LabelRow,
    QuarantineRow,
    ScoreRow,
    SightingRow,
    SourceCursorRow,
    TrainingRunRow,
    UnfinishedFileRow,
    utcnow,
)
from astrolens.store.phash_index import PerceptualHashIndex

_P = ParamSpec("_P")
_R = TypeVar("_R")

_CANDIDATE_VERDICTS = frozenset({Verdict.ANOMALY, Verdict.NEAR_MISS})
# SQLite allows 999 bound parameters per statement in old builds; stay well below.
_IN_CHUNK = 500


def _new_candidate_row(
    image: ImageRow,
    score_row: ScoreRow,
    model_id: str,
    verdict: str,
    score: float,
    now: datetime | None = None,
) -> CandidateRow:
    """A new review-queue row for `image`, judged by `score_row`. Without a sky position no
    catalog can be asked: it says so instead of "pending" forever."""
    now = now or utcnow()
    positioned = image.ra_deg is not None and image.dec_deg is not None
    return CandidateRow.create(
        image=image.id,
        score_row=score_row.id,
        model_id=model_id,
        source_id=image.source_id,
        catalog_verdict=(
            CatalogVerdict.PENDING if positioned else CatalogVerdict.NO_POSITION
        ).value,
        verdict=verdict,
        score=score,
        created_at=now,
        updated_at=now,
    )


def default_retry_delay(attempts: int) -> timedelta:
    """How long to wait before asking a failed catalog again: 5 min doubling, capped at a day."""
    return min(timedelta(minutes=5) * (1 << max(0, attempts - 1)), timedelta(days=1))


def quarantine_retry_delay(attempts: int) -> timedelta:
    """When to read a temporarily unreadable file or URL again: at once on the next cycle
    after the first failure (a scan rerun), then 1 min doubling, capped at a day."""
    if attempts <= 1:
        return timedelta(0)
    return min(timedelta(minutes=1) * (1 << min(attempts - 2, 20)), timedelta(days=1))


def _bound(
    method: Callable[Concatenate[SqliteRepository, _P], _R],
) -> Callable[Concatenate[SqliteRepository, _P], _R]:
    """Bind the models to this repository's database for the call.

    The models are module-level classes; binding per call (not once globally) keeps two
    open repositories (a test and its reopened copy) from writing into each other.
    """

    @functools.wraps(method)
    def wrapper(self: SqliteRepository, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._db.bind_ctx(ALL_MODELS):
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.OperationalError, PeeweeOperationalError) as exc:
                if is_disk_full(exc):
                    # The transaction rolled back: nothing half-written is kept.
                    raise StorageFullError(
                        f"the disk holding {self.path.parent} is full; free some space and "
                        "run again (nothing was lost: the last image was not stored)"
                    ) from exc
                raise

    return cast("Callable[Concatenate[SqliteRepository, _P], _R]", wrapper)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield ids[start : start + _IN_CHUNK]


def _local_midnight_utc() -> datetime:
    local_midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    return local_midnight.astimezone(UTC).replace(tzinfo=None)


class SqliteRepository:
    """``astrolens.domain.ports.Repository`` on SQLite (peewee, WAL mode)."""

    def __init__(
        self,
        db_path: Path,
        *,
        backups_dir: Path | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
        retry_delay: Callable[[int], timedelta] = default_retry_delay,
        quarantine_delay: Callable[[int], timedelta] = quarantine_retry_delay,
    ) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.path = db_path
        self._retry_delay = retry_delay
        self._quarantine_retry_delay = quarantine_delay
        self._db = open_database(db_path)
        self._phashes = PerceptualHashIndex(
            lambda: cast(
                list[tuple[int, str]],
                list(ImageRow.select(ImageRow.id, ImageRow.perceptual_hash).tuples()),
            )
        )
        self._db.connect(reuse_if_open=True)
        try:
            # The backup made before migrating, if one was: the app may tell the user.
            self.migration_backup = migrate(
                self._db, db_path, backups_dir or db_path.parent / "backups", migrations
            )
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        if not self._db.is_closed():
            # Fold the WAL back into the main file so a copied database is complete. On a
            # full disk it cannot; the WAL is kept and folded in next time (nothing is lost).
            try:
                execute(self._db, "PRAGMA wal_checkpoint(TRUNCATE)")
            except (sqlite3.OperationalError, PeeweeOperationalError) as exc:
                if not is_disk_full(exc):
                    raise
            self._db.close()

    def integrity_check(self) -> str:
        """SQLite's own check: 'ok' or a description of the damage."""
        rows = execute(self._db, "PRAGMA integrity_check").fetchall()
        return "; ".join(str(r[0]) for r in rows)

    # ----------------------------------------------------------------- images and dedupe

    @_bound
    def has_uri(self, uri: str) -> bool:
        """True if the URI was ingested (as image, frame or sighting) or quarantined."""
        return bool(
            ImageRow.select().where((ImageRow.uri == uri) | (ImageRow.parent_uri == uri)).exists()
            or SightingRow.select().where(SightingRow.uri == uri).exists()
            or QuarantineRow.select().where(QuarantineRow.uri == uri).exists()
        )

    @_bound
    def known_uris(
        self, uris: Sequence[str], fingerprints: Mapping[str, str | None] | None = None
    ) -> set[str]:
        """The subset of `uris` done already: stored (every image of the file), seen, or
        quarantined and not due again. A quarantined local file whose fingerprint (size and
        mtime) differs from the one it failed with is due again; so is a temporary failure
        whose retry time has come. A file listed as unfinished (killed between its frame and
        its last stamp) is not done."""
        known: set[str] = set()
        fingerprints = fingerprints or {}
        unique = list(dict.fromkeys(uris))
        columns = (ImageRow.uri, ImageRow.parent_uri, SightingRow.uri)
        now = utcnow()
        for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[start : start + 500]
            for column in columns:
                rows = column.model.select(column).where(column.in_(chunk)).tuples()
                known.update(str(row[0]) for row in rows)
            for row in QuarantineRow.select().where(QuarantineRow.uri.in_(chunk)):
                current = fingerprints.get(row.uri)
                changed = row.fingerprint is not None and current not in (None, row.fingerprint)
                due = row.retry_at is not None and row.retry_at <= now
                if not (changed or due):
                    known.add(str(row.uri))
            unfinished = UnfinishedFileRow.select().where(UnfinishedFileRow.uri.in_(chunk))
            known.difference_update(str(row.uri) for row in unfinished)
        return known

    @_bound
    def begin_file(self, uri: str) -> None:
        """`uri` gives several images (a frame and its stamps): not done until finish_file."""
        UnfinishedFileRow.insert(uri=uri, started_at=utcnow()).on_conflict_replace().execute()

    @_bound
    def finish_file(self, uri: str) -> None:
        """Every image of `uri` is stored: it is done, and no longer quarantined if it was."""
        with self._db.atomic():
            UnfinishedFileRow.delete().where(UnfinishedFileRow.uri == uri).execute()
            QuarantineRow.delete().where(QuarantineRow.uri == uri).execute()

    @_bound
    def find_duplicate(
        self, image: DecodedImage, max_distance: int = DEFAULT_MAX_DISTANCE
    ) -> ImageRecord | None:
        """Same bytes first; otherwise a look-alike (perceptual hash within `max_distance`
        bits) that may be the same object (domain.dedupe.could_be_same_object)."""
        return self._find_duplicate(image, max_distance)

    @_bound
    def find_duplicates(self, images: Sequence[DecodedImage]) -> list[ImageRecord | None]:
        """`find_duplicate` of each image, in one call (one trip to the db thread per frame)."""
        return [self._find_duplicate(image) for image in images]

    def _find_duplicate(
        self, image: DecodedImage, max_distance: int = DEFAULT_MAX_DISTANCE
    ) -> ImageRecord | None:
        row = ImageRow.get_or_none(ImageRow.content_hash == image.content_hash)
        if row is not None:
            return convert.image_record(row)
        if not image.perceptual_hash:
            return None
        for image_id in self._phashes.near(image.perceptual_hash, max_distance):
            found = ImageRow.get_or_none(ImageRow.id == image_id)
            if found is None:  # added in a transaction that rolled back
                continue
            record = convert.image_record(found)
            if could_be_same_object(
                image.provenance.sky, record.provenance.sky, image.parent_uri, record.parent_uri
            ):
                return record
        return None

    @_bound
    def record_sighting(self, image_id: int, uri: str) -> None:
        with self._db.atomic():
            self._record_sighting(image_id, uri)

    def _record_sighting(self, image_id: int, uri: str) -> None:
        SightingRow.create(image=image_id, uri=uri)
        ImageRow.update(sightings=ImageRow.sightings + 1).where(ImageRow.id == image_id).execute()

    @_bound
    def add_image(
        self, image: DecodedImage, image_path: str | None, thumbnail_path: str | None
    ) -> ImageRecord:
        """Insert the image; content already stored returns the existing record unchanged."""
        with self._db.atomic():
            return convert.image_record(self._insert_image(image, image_path, thumbnail_path)[0])

    def _insert_image(
        self, image: DecodedImage, image_path: str | None, thumbnail_path: str | None
    ) -> tuple[ImageRow, bool]:
        """(row, created). ON CONFLICT keeps a racing or repeated insert from duplicating."""
        prov = image.provenance
        stamp_x, stamp_y = image.stamp_xy if image.stamp_xy is not None else (None, None)
        values: dict[str, Any] = {
            "content_hash": image.content_hash,
            "perceptual_hash": image.perceptual_hash,
            "source_id": prov.source_id,
            "uri": prov.uri,
            "parent_uri": image.parent_uri,
            "ra_deg": prov.sky.ra_deg if prov.sky else None,
            "dec_deg": prov.sky.dec_deg if prov.sky else None,
            "pixel_scale_arcsec": prov.pixel_scale_arcsec,
            "survey": prov.survey,
            "bands": prov.bands,
            "width": image.width,
            "height": image.height,
            "image_group": image.group.value,
            "stamp_x": stamp_x,
            "stamp_y": stamp_y,
            "object_size_px": image.object_size_px,
            "image_path": image_path,
            "thumbnail_path": thumbnail_path,
            "extra_json": convert.dumps(prov.extra),
            "created_at": utcnow(),
        }
        row_id = ImageRow.insert(**values).on_conflict_ignore().execute()
        # lastrowid is stale after an ignored insert; changes() tells whether a row was added.
        created = bool(execute(self._db, "SELECT changes()").fetchone()[0])
        if not created:
            return ImageRow.get(ImageRow.content_hash == image.content_hash), False
        # The row is exactly what was just written: build it instead of reading it back.
        row = ImageRow(id=int(row_id), sightings=1, **values)
        self._phashes.add(row.id, image.perceptual_hash)
        return row, True

    @_bound
    def get_image(self, image_id: int) -> ImageRecord | None:
        row = ImageRow.get_or_none(ImageRow.id == image_id)
        return convert.image_record(row) if row is not None else None

    @_bound
    def list_images(
        self, limit: int, after_id: int = 0, source_id: str | None = None
    ) -> list[ImageRecord]:
        """Images by id, from just after `after_id` (keyset paging: stable while a scan adds)."""
        query = ImageRow.select().where(ImageRow.id > after_id)
        if source_id is not None:
            query = query.where(ImageRow.source_id == source_id)
        return [convert.image_record(r) for r in query.order_by(ImageRow.id).limit(limit)]

    @_bound
    def count_images(self) -> int:
        return int(ImageRow.select().count())

    @_bound
    def images_missing_embedding(self, model_id: str, limit: int) -> list[ImageRecord]:
        """Images with no vector of ``model_id`` yet: the work list after a model change."""
        rows = (
            ImageRow.select()
            .join(
                EmbeddingRow,
                JOIN.LEFT_OUTER,
                on=(EmbeddingRow.image == ImageRow.id) & (EmbeddingRow.model_id == model_id),
            )
            .where(EmbeddingRow.id.is_null())
            .order_by(ImageRow.id)
            .limit(limit)
        )
        return [convert.image_record(r) for r in rows]

    @_bound
    def unscored_embeddings(
        self, model_id: str, limit: int = 100_000
    ) -> list[tuple[int, ImageGroup, Matrix, str]]:
        """Images embedded by ``model_id`` but never scored by it: a bootstrap buffer that a
        crash interrupted. The pipeline scores them on its next cycle."""
        rows = (
            EmbeddingRow.select(
                EmbeddingRow.image,
                EmbeddingRow.vector,
                ImageRow.image_group,
                ImageRow.content_hash,
            )
            .join(ImageRow, on=(EmbeddingRow.image == ImageRow.id))
            .join(
                ScoreRow,
                JOIN.LEFT_OUTER,
                on=(ScoreRow.image == ImageRow.id) & (ScoreRow.model_id == model_id),
            )
            .where((EmbeddingRow.model_id == model_id) & ScoreRow.id.is_null())
            .order_by(EmbeddingRow.image)
            .limit(limit)
            .tuples()
        )
        found: list[tuple[int, ImageGroup, Matrix, str]] = []
        for image_id, vector, group, key in cast(list[tuple[int, bytes, str, str]], list(rows)):
            vec = np.frombuffer(vector, np.float32).copy()
            found.append((int(image_id), ImageGroup(group), vec, key))
        return found

    # ------------------------------------------------------------ embeddings and scores

    @_bound
    def add_embedding(self, image_id: int, embedding: Embedding) -> None:
        """Insert, or replace the vector this model made earlier for the image."""
        self._upsert_embedding(image_id, embedding)

    def _upsert_embedding(self, image_id: int, embedding: Embedding) -> None:
        blob = convert.vector_to_blob(embedding.vector)
        now = utcnow()
        (
            EmbeddingRow.insert(
                image=image_id,
                model_id=embedding.model_id,
                dim=embedding.dim,
                vector=blob,
                created_at=now,
            )
            .on_conflict(
                conflict_target=[EmbeddingRow.image, EmbeddingRow.model_id],
                update={
                    EmbeddingRow.vector: blob,
                    EmbeddingRow.dim: embedding.dim,
                    EmbeddingRow.created_at: now,
                },
            )
            .execute()
        )

    @_bound
    def keep_for_review(self, image_ids: Sequence[int], model_id: str) -> int:
        """Put images into the review queue whatever their verdict (their latest score of
        `model_id`): the most unusual of a first scan, which no FDR test can pass yet, so a
        new user has something to look at and label. Returns how many were added."""
        added = 0
        with self._db.atomic():
            for image_id in image_ids:
                if CandidateRow.get_or_none(CandidateRow.image == image_id) is not None:
                    continue
                score_row = (
                    ScoreRow.select()
                    .where((ScoreRow.image == image_id) & (ScoreRow.model_id == model_id))
                    .order_by(ScoreRow.id.desc())
                    .first()
                )
                image = ImageRow.get_or_none(ImageRow.id == image_id)
                if score_row is None or image is None:
                    continue
                _new_candidate_row(
                    image, score_row, model_id, score_row.verdict, float(score_row.score)
                )
                added += 1
        return added

    @_bound
    def add_score(self, image_id: int, model_id: str, result: ScoreResult) -> Candidate | None:
        """Store a score; returns the image's candidate when it has one (as it now stands)."""
        with self._db.atomic():
            return self._insert_score(image_id, model_id, result)

    @_bound
    def add_scores(
        self, model_id: str, scored: Sequence[tuple[int, ScoreResult]]
    ) -> list[tuple[ImageRecord, Candidate | None]]:
        """Many scores of stored images in one transaction (a bootstrap batch), each with
        its image and its candidate, so the caller reads nothing back."""
        out: list[tuple[ImageRecord, Candidate | None]] = []
        with self._db.atomic():
            rows = {}
            for chunk in _chunks([image_id for image_id, _ in scored]):
                rows.update({r.id: r for r in ImageRow.select().where(ImageRow.id.in_(chunk))})
            for image_id, result in scored:
                row = rows.get(image_id)
                if row is None:  # deleted meanwhile: nothing to score
                    continue
                candidate = self._insert_score(image_id, model_id, result, image=row)
                out.append((convert.image_record(row), candidate))
        return out

    def _insert_score(
        self,
        image_id: int,
        model_id: str,
        result: ScoreResult,
        *,
        image: ImageRow | None = None,
        new_image: bool = False,
    ) -> Candidate | None:
        """Insert the score row and create or move the candidate. `image` saves a read;
        `new_image` says it was inserted in this transaction (no label or answer yet), so
        its candidate is built here rather than read back."""
        thresholds = result.thresholds
        score_row = ScoreRow.create(
            image=image_id,
            model_id=model_id,
            score=float(result.score),
            p_value=float(result.p_value),
            verdict=result.verdict.value,
            detector_scores_json=convert.dumps(
                {k: float(v) for k, v in result.detector_scores.items()}
            ),
            calibration_version=result.calibration_version,
            anomaly_p=thresholds.anomaly_p if thresholds else None,
            near_miss_p=thresholds.near_miss_p if thresholds else None,
        )
        existing = None if new_image else CandidateRow.get_or_none(CandidateRow.image == image_id)
        if existing is None and result.verdict not in _CANDIDATE_VERDICTS:
            return None
        # A candidate follows its image's latest score, even one that turned normal after a
        # recalibration: its labels and cross-matches stay, and the gallery filters it out.
        now = utcnow()
        if existing is None:
            image = image if image is not None else ImageRow.get_by_id(image_id)
            created = _new_candidate_row(
                image, score_row, model_id, result.verdict.value, float(result.score), now
            )
            if new_image:
                return Candidate(
                    image=convert.image_record(image),
                    result=convert.score_result(score_row),
                    model_id=model_id,
                    catalog_verdict=CatalogVerdict(created.catalog_verdict),
                )
            return self._load_candidates([created])[0]
        CandidateRow.update(
            score_row=score_row.id,
            model_id=model_id,
            verdict=result.verdict.value,
            score=float(result.score),
            updated_at=now,
        ).where(CandidateRow.id == existing.id).execute()
        return self._load_candidates([CandidateRow.get_by_id(existing.id)])[0]

    @_bound
    def add_scored_image(
        self,
        decoded: DecodedImage,
        image_path: str | None,
        thumb_path: str | None,
        embedding: Embedding,
        model_id: str,
        result: ScoreResult | None,
    ) -> ImageRecord:
        """Image, vector, score and candidate in one transaction: all of them or none.

        `result` is None while the image's group has no reference yet (bootstrap): the score
        follows through ``add_score``. Content already stored is returned unchanged (nothing
        is written): the first scoring of a content wins, and re-scoring goes through
        ``add_score``.
        """
        if embedding.model_id != model_id:
            raise ModelMismatchError(
                f"embedding of {embedding.model_id!r} cannot be stored as {model_id!r}"
            )
        with self._db.atomic():
            row, created = self._insert_image(decoded, image_path, thumb_path)
            if created:
                self._upsert_embedding(row.id, embedding)
                if result is not None:
                    self._insert_score(row.id, model_id, result, image=row, new_image=True)
            return convert.image_record(row)

    @_bound
    def add_scored_images(self, items: Sequence[NewImage]) -> list[StoredImage]:
        """A batch of `add_scored_image`s in one transaction (one commit, one fsync), each
        checked for a duplicate stored earlier in this batch or before it (the look-alike of
        an image met in the same cycle is a sighting, as in `find_duplicate`). Returns what
        each became, with its candidate, so the caller reads nothing back."""
        for item in items:
            if item.embedding.model_id != item.model_id:
                raise ModelMismatchError(
                    f"embedding of {item.embedding.model_id!r} cannot be stored as "
                    f"{item.model_id!r}"
                )
        out: list[StoredImage] = []
        with self._db.atomic():
            for item in items:
                duplicate = self._find_duplicate(item.image)
                if duplicate is not None:
                    self._record_sighting(duplicate.id, item.image.provenance.uri)
                    out.append(StoredImage(duplicate, duplicate=True))
                    continue
                row, created = self._insert_image(item.image, item.image_path, item.thumbnail_path)
                candidate = None
                if created:
                    self._upsert_embedding(row.id, item.embedding)
                    if item.result is not None:
                        candidate = self._insert_score(
                            row.id, item.model_id, item.result, image=row, new_image=True
                        )
                out.append(StoredImage(convert.image_record(row), candidate=candidate))
        return out

    @_bound
    def set_rank_score(self, image_id: int, rank_score: float | None) -> None:
        """The learned ranking of a candidate (from the user's labels)."""
        CandidateRow.update(rank_score=rank_score, updated_at=utcnow()).where(
            CandidateRow.image == image_id
        ).execute()

    @_bound
    def set_rank_scores(self, scores: Sequence[tuple[int, float]]) -> None:
        """A whole re-ranked queue in one transaction (one commit, not one per candidate)."""
        table = CandidateRow._meta.table_name  # type: ignore[attr-defined]
        now = CandidateRow.updated_at.db_value(utcnow())  # type: ignore[no-untyped-call]
        rows = [(float(score), now, int(image_id)) for image_id, score in scores]
        with self._db.atomic():
            execute_many(
                self._db,
                f"UPDATE {table} SET rank_score = ?, updated_at = ? WHERE image_id = ?",
                rows,
            )

    @_bound
    def latest_score(self, image_id: int, model_id: str) -> ScoreResult | None:
        row = (
            ScoreRow.select()
            .where((ScoreRow.image == image_id) & (ScoreRow.model_id == model_id))
            .order_by(ScoreRow.id.desc())
            .first()
        )
        return convert.score_result(row) if row is not None else None

    def _vectors(self, cursor: sqlite3.Cursor, model_id: str) -> tuple[list[int], Matrix]:
        ids: list[int] = []
        vectors = []
        dim: int | None = None
        for image_id, row_dim, blob in cursor:
            if dim is None:
                dim = int(row_dim)
            require_same_model(model_id, dim, model_id, int(row_dim))
            ids.append(int(image_id))
            vectors.append(convert.blob_to_vector(bytes(blob), int(row_dim)))
        if not vectors:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.stack(vectors).astype(np.float32, copy=False)

    @_bound
    def kinds_of(self, image_ids: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        ids = list(image_ids)
        for start in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
            chunk = ids[start : start + 500]
            rows = ImageRow.select().where(ImageRow.id.in_(chunk))
            for row in rows:
                record = convert.image_record(row)
                found[record.id] = stored_kind(record.provenance, record.group, record.parent_uri)
        return found

    @_bound
    def reference_vectors(
        self, model_id: str, group: ImageGroup, limit: int, kind: str | None = None
    ) -> tuple[list[int], Matrix]:
        """The newest vectors a detector may treat as normal.

        Included: images whose latest verdict for this model is normal, images not scored
        yet (the bootstrap reference), and images a person labelled false positive (they
        are normal by a human's word). Never an image whose latest label is true positive,
        whatever its score says: fitting on a confirmed anomaly teaches the detector to
        miss the next one.

        With `kind`, only images of that look-alike kind (the key the decoder stored in the
        provenance JSON; images stored before kinds existed have none and are left out).
        """
        cursor = execute(
            self._db,
            """
            SELECT e.image_id, e.dim, e.vector
            FROM embeddings e
            JOIN images i ON i.id = e.image_id
            LEFT JOIN (SELECT image_id, MAX(id) AS sid FROM scores
                       WHERE model_id = ? GROUP BY image_id) ls ON ls.image_id = e.image_id
            LEFT JOIN scores s ON s.id = ls.sid
            LEFT JOIN (SELECT image_id, MAX(id) AS lid FROM labels
                       GROUP BY image_id) ll ON ll.image_id = e.image_id
            LEFT JOIN labels l ON l.id = ll.lid
            WHERE e.model_id = ? AND i.image_group = ?
              AND (? IS NULL OR json_extract(i.extra_json, '$.kind') = ?)
              AND (l.value IS NULL OR l.value != ?)
              AND (l.value = ? OR s.id IS NULL OR s.verdict = ?)
            ORDER BY e.id DESC
            LIMIT ?
            """,
            (
                model_id,
                model_id,
                group.value,
                kind,
                kind,
                LabelValue.TRUE_POSITIVE.value,
                LabelValue.FALSE_POSITIVE.value,
                Verdict.NORMAL.value,
                limit,
            ),
        )
        return self._vectors(cursor, model_id)

    @_bound
    def embedding_vector(self, image_id: int, model_id: str) -> Matrix | None:
        """One image's vector of one model, or None (not embedded by that model yet)."""
        row = (
            EmbeddingRow.select()
            .where((EmbeddingRow.image == image_id) & (EmbeddingRow.model_id == model_id))
            .first()
        )
        if row is None:
            return None
        return np.frombuffer(row.vector, dtype=np.float32).copy()

    @_bound
    def embeddings(
        self, model_id: str, group: ImageGroup | None = None
    ) -> tuple[list[int], Matrix]:
        """Every vector of one model (optionally one group), by image id: for a FAISS rebuild."""
        sql = "SELECT e.image_id, e.dim, e.vector FROM embeddings e"
        params: list[object] = [model_id]
        if group is not None:
            sql += " JOIN images i ON i.id = e.image_id WHERE e.model_id = ? AND i.image_group = ?"
            params.append(group.value)
        else:
            sql += " WHERE e.model_id = ?"
        return self._vectors(execute(self._db, sql + " ORDER BY e.image_id", params), model_id)

    @_bound
    def embeddings_of(self, model_id: str, image_ids: Sequence[int]) -> tuple[list[int], Matrix]:
        """The vectors of one model for these images only (those that have one), by image id:
        what a re-rank of the queue needs, without reading the whole archive's vectors."""
        wanted = sorted({int(i) for i in image_ids})
        ids: list[int] = []
        chunks: list[Matrix] = []
        for start in range(0, len(wanted), 500):  # well under SQLite's bound-parameter limit
            part = wanted[start : start + 500]
            sql = (
                "SELECT e.image_id, e.dim, e.vector FROM embeddings e WHERE e.model_id = ?"
                f" AND e.image_id IN ({','.join('?' * len(part))}) ORDER BY e.image_id"
            )
            got_ids, got = self._vectors(execute(self._db, sql, [model_id, *part]), model_id)
            if got_ids:
                if chunks and got.shape[1] != chunks[0].shape[1]:
                    require_same_model(model_id, chunks[0].shape[1], model_id, got.shape[1])
                ids += got_ids
                chunks.append(got)
        if not chunks:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.concatenate(chunks)

    # ------------------------------------------------------------------- calibrations

    @_bound
    def save_calibration(self, calibration: Calibration) -> Calibration:
        """Store with the next version number (global, so a score's version is unambiguous)."""
        with self._db.atomic():
            version = int(CalibrationRow.select(fn.MAX(CalibrationRow.version)).scalar() or 0) + 1
            CalibrationRow.create(
                version=version,
                model_id=calibration.model_id,
                image_group=calibration.group,
                reference_size=calibration.reference_size,
                fdr=calibration.fdr,
                anomaly_p=calibration.thresholds.anomaly_p,
                near_miss_p=calibration.thresholds.near_miss_p,
                bootstrap=calibration.bootstrap,
                created_at=calibration.created_at,
            )
        return dataclasses.replace(calibration, version=version)

    @_bound
    def latest_calibration(self, model_id: str, group: ImageGroup) -> Calibration | None:
        row = (
            CalibrationRow.select()
            .where((CalibrationRow.model_id == model_id) & (CalibrationRow.image_group == group))
            .order_by(CalibrationRow.version.desc())
            .first()
        )
        return convert.calibration(row) if row is not None else None

    @_bound
    def calibration_by_version(self, version: int) -> Calibration | None:
        row = CalibrationRow.get_or_none(CalibrationRow.version == version)
        return convert.calibration(row) if row is not None else None

    @_bound
    def count_normal_scores(self, model_id: str, calibration_version: int) -> int:
        return int(
            ScoreRow.select()
            .where(
                (ScoreRow.model_id == model_id)
                & (ScoreRow.calibration_version == calibration_version)
                & (ScoreRow.verdict == Verdict.NORMAL.value)
            )
            .count()
        )

    # --------------------------------------------------------------------- candidates

    def _filtered(self, flt: CandidateFilter) -> Any:
        query = CandidateRow.select()
        if flt.verdicts:
            query = query.where(CandidateRow.verdict.in_([v.value for v in flt.verdicts]))
        if flt.source_id is not None:
            query = query.where(CandidateRow.source_id == flt.source_id)
        if flt.label_state is LabelState.UNLABELLED:
            query = query.where(CandidateRow.label_value.is_null())
        elif flt.label_state is LabelState.LABELLED:
            query = query.where(CandidateRow.label_value.is_null(False))
        elif flt.label_state is not LabelState.ANY:
            query = query.where(CandidateRow.label_value == flt.label_state.value)
        if flt.catalog_verdicts:
            query = query.where(
                CandidateRow.catalog_verdict.in_([c.value for c in flt.catalog_verdicts])
            )
        if flt.min_score is not None:
            query = query.where(CandidateRow.score >= flt.min_score)
        return query

    def _load_candidates(self, candidate_rows: Sequence[CandidateRow]) -> list[Candidate]:
        """Build domain candidates for one page: three queries, whatever the page size."""
        if not candidate_rows:
            return []
        image_ids = [c.image_id for c in candidate_rows]
        images: dict[int, ImageRow] = {}
        scores: dict[int, ScoreRow] = {}
        matches: dict[int, list[CrossMatch]] = {}
        labels: dict[int, Label] = {}
        score_ids = [c.score_row_id for c in candidate_rows]
        for chunk in _chunks(image_ids):
            images.update({r.id: r for r in ImageRow.select().where(ImageRow.id.in_(chunk))})
            for xm in (
                CrossMatchRow.select()
                .where(CrossMatchRow.image.in_(chunk))
                .order_by(CrossMatchRow.service)
            ):
                matches.setdefault(xm.image_id, []).append(convert.crossmatch(xm))
            for lab in LabelRow.select().where(LabelRow.image.in_(chunk)).order_by(LabelRow.id):
                labels[lab.image_id] = convert.label(lab)  # ascending: the latest wins
        for chunk in _chunks(score_ids):
            scores.update({r.id: r for r in ScoreRow.select().where(ScoreRow.id.in_(chunk))})
        return [
            Candidate(
                image=convert.image_record(images[c.image_id]),
                result=convert.score_result(scores[c.score_row_id]),
                model_id=c.model_id,
                crossmatches=tuple(matches.get(c.image_id, ())),
                catalog_verdict=CatalogVerdict(c.catalog_verdict),
                label=labels.get(c.image_id),
                rank_score=c.rank_score,
            )
            for c in candidate_rows
        ]

    @_bound
    def query_candidates(
        self, flt: CandidateFilter | None = None, limit: int = 100, offset: int = 0
    ) -> list[Candidate]:
        flt = flt or CandidateFilter()
        query = self._filtered(flt)
        if flt.order is CandidateOrder.RANK_SCORE:
            query = query.order_by(
                CandidateRow.rank_score.desc(nulls="LAST"), CandidateRow.score.desc()
            )
        elif flt.order is CandidateOrder.NEWEST:
            query = query.order_by(CandidateRow.created_at.desc(), CandidateRow.id.desc())
        else:
            query = query.order_by(CandidateRow.score.desc(), CandidateRow.id.desc())
        return self._load_candidates(list(query.limit(limit).offset(offset)))

    @_bound
    def count_candidates(self, flt: CandidateFilter | None = None) -> int:
        return int(self._filtered(flt or CandidateFilter()).count())

    def candidates(
        self,
        verdicts: Sequence[Verdict] = DEFAULT_CANDIDATE_VERDICTS,
        limit: int = 100,
        offset: int = 0,
        *,
        source_id: str | None = None,
        label_state: LabelState = LabelState.ANY,
        catalog_verdicts: Sequence[CatalogVerdict] = (),
        min_score: float | None = None,
        order: CandidateOrder = CandidateOrder.SCORE,
    ) -> list[Candidate]:
        flt = CandidateFilter(
            verdicts=tuple(verdicts),
            source_id=source_id,
            label_state=label_state,
            catalog_verdicts=tuple(catalog_verdicts),
            min_score=min_score,
            order=order,
        )
        return self.query_candidates(flt, limit, offset)

    @_bound
    def get_candidate(self, image_id: int) -> Candidate | None:
        row = CandidateRow.get_or_none(CandidateRow.image == image_id)
        return self._load_candidates([row])[0] if row is not None else None

    # ------------------------------------------------------------------- cross-matches

    @_bound
    def save_crossmatch(self, image_id: int, result: CrossMatch) -> None:
        """Keep each service's latest answer; an error schedules its own retry."""
        with self._db.atomic():
            self._save_crossmatch(image_id, result)

    @_bound
    def save_crossmatches(self, image_id: int, results: Sequence[CrossMatch]) -> Candidate | None:
        """Every catalog's answer for one image in one transaction; returns the candidate
        as it now stands (with its new catalog verdict), or None if it has none."""
        with self._db.atomic():
            for result in results:
                self._save_crossmatch(image_id, result)
            row = CandidateRow.get_or_none(CandidateRow.image == image_id)
            return self._load_candidates([row])[0] if row is not None else None

    def _save_crossmatch(self, image_id: int, result: CrossMatch) -> None:
        now = utcnow()
        previous = CrossMatchRow.get_or_none(
            (CrossMatchRow.image == image_id) & (CrossMatchRow.service == result.service)
        )
        attempts = (previous.attempts if previous is not None else 0) + 1
        failed = result.status is MatchStatus.ERROR
        retry_at = now + self._retry_delay(attempts) if failed else None
        values = {
            "catalog": result.catalog,
            "status": result.status.value,
            "radius_arcsec": result.radius_arcsec,
            "objects_json": convert.dumps(
                [convert.catalog_object_to_dict(o) for o in result.objects]
            ),
            "reason": result.reason,
            "attempts": attempts,
            "checked_at": result.checked_at or now,
            "next_retry_at": retry_at,
        }
        if previous is None:
            CrossMatchRow.create(image=image_id, service=result.service, **values)
        else:
            CrossMatchRow.update(**values).where(CrossMatchRow.id == previous.id).execute()
        answers = [
            convert.crossmatch(r)
            for r in CrossMatchRow.select().where(CrossMatchRow.image == image_id)
        ]
        CandidateRow.update(catalog_verdict=catalog_verdict(answers).value, updated_at=now).where(
            CandidateRow.image == image_id
        ).execute()

    @_bound
    def pending_crossmatches(
        self, limit: int, verdicts: Sequence[Verdict] = (Verdict.ANOMALY,)
    ) -> list[Candidate]:
        """Candidates with a sky position whose catalog answer is missing or due for a retry.

        A candidate waits while any of its failed services is inside its back-off window.
        Anomalies come first, then by score.
        """
        now = utcnow()
        waiting = CrossMatchRow.select(CrossMatchRow.image).where(
            (CrossMatchRow.status == MatchStatus.ERROR.value) & (CrossMatchRow.next_retry_at > now)
        )
        rows = (
            CandidateRow.select(CandidateRow)
            .join(ImageRow)
            .where(
                CandidateRow.verdict.in_([v.value for v in verdicts])
                & CandidateRow.catalog_verdict.in_(
                    [CatalogVerdict.PENDING.value, CatalogVerdict.INCOMPLETE.value]
                )
                & ImageRow.ra_deg.is_null(False)
                & ImageRow.dec_deg.is_null(False)
                & CandidateRow.image.not_in(waiting)
            )
            .order_by(
                (CandidateRow.verdict == Verdict.ANOMALY.value).desc(), CandidateRow.score.desc()
            )
            .limit(limit)
        )
        return self._load_candidates(list(rows))

    # --------------------------------------------------------------------------- labels

    @_bound
    def add_label(self, label: Label) -> None:
        with self._db.atomic():
            LabelRow.create(
                image=label.image_id,
                value=label.value.value,
                author=label.author,
                note=label.note,
                origin=label.origin,
                created_at=label.created_at,
            )
            CandidateRow.update(label_value=label.value.value, updated_at=utcnow()).where(
                CandidateRow.image == label.image_id
            ).execute()

    @_bound
    def labels(self, image_id: int | None = None) -> list[Label]:
        """Every label in the order given (the training set), or one image's history."""
        query = LabelRow.select().order_by(LabelRow.id)
        if image_id is not None:
            query = query.where(LabelRow.image == image_id)
        return [convert.label(r) for r in query]

    # ---------------------------------------------------------------------- annotations

    @_bound
    def add_annotation(self, annotation: Annotation) -> Annotation:
        row = AnnotationRow.create(
            image=annotation.image_id,
            provider=annotation.provider,
            model=annotation.model,
            prompt_version=annotation.prompt_version,
            text=annotation.text,
            created_at=annotation.created_at.astimezone(UTC).replace(tzinfo=None)
            if annotation.created_at.tzinfo
            else annotation.created_at,
        )
        return convert.annotation(row)

    @_bound
    def annotations(self, image_id: int) -> list[Annotation]:
        """One image's annotations, newest first."""
        query = (
            AnnotationRow.select()
            .where(AnnotationRow.image == image_id)
            .order_by(AnnotationRow.id.desc())
        )
        return [convert.annotation(r) for r in query]

    # -------------------------------------------------------------------- training runs

    @_bound
    def add_training_run(
        self, model_id: str, parameters: dict[str, Any], data_description: str
    ) -> TrainingRun:
        row = TrainingRunRow.create(
            model_id=model_id,
            parameters_json=convert.dumps(parameters),
            data_description=data_description,
            status=TrainingStatus.RUNNING.value,
        )
        return convert.training_run(row)

    @_bound
    def finish_training_run(
        self,
        run_id: int,
        *,
        status: TrainingStatus,
        metrics_before: dict[str, float],
        metrics_after: dict[str, float],
        promoted: bool,
        parameters: dict[str, Any] | None = None,
    ) -> TrainingRun:
        """`parameters`, if given, are merged into the run's (e.g. the model it promoted)."""
        with self._db.atomic():
            changes: dict[Any, Any] = {
                TrainingRunRow.status: status.value,
                TrainingRunRow.metrics_before_json: convert.dumps(metrics_before),
                TrainingRunRow.metrics_after_json: convert.dumps(metrics_after),
                TrainingRunRow.promoted: promoted,
                TrainingRunRow.finished_at: utcnow(),
            }
            if parameters:
                current = convert.training_run(TrainingRunRow.get_by_id(run_id)).parameters
                changes[TrainingRunRow.parameters_json] = convert.dumps({**current, **parameters})
            TrainingRunRow.update(changes).where(TrainingRunRow.id == run_id).execute()
            return convert.training_run(TrainingRunRow.get_by_id(run_id))

    @_bound
    def training_runs(self, model_id: str | None = None) -> list[TrainingRun]:
        query = TrainingRunRow.select().order_by(TrainingRunRow.id.desc())
        if model_id is not None:
            query = query.where(TrainingRunRow.model_id == model_id)
        return [convert.training_run(r) for r in query]

    # ------------------------------------------------------------ quarantine, cursors, kv

    @_bound
    def quarantine(
        self,
        uri: str,
        reason: str,
        *,
        temporary: bool = False,
        fingerprint: str | None = None,
        task_json: str | None = None,
    ) -> None:
        """Record a failure. `temporary`: try again later (`task_json` is what to fetch), with
        a backoff that grows with the number of failures; otherwise a bad file, read again
        only if its fingerprint changes."""
        now = utcnow()
        with self._db.atomic():
            row = QuarantineRow.get_or_none(QuarantineRow.uri == uri)
            count = 1 if row is None else row.count + 1
            retry_at = now + self._quarantine_retry_delay(count) if temporary else None
            (
                QuarantineRow.insert(
                    uri=uri,
                    reason=reason,
                    count=count,
                    last_seen=now,
                    retry_at=retry_at,
                    fingerprint=fingerprint,
                    task_json=task_json if temporary else None,
                )
                .on_conflict(
                    conflict_target=[QuarantineRow.uri],
                    update={
                        QuarantineRow.reason: reason,
                        QuarantineRow.count: count,
                        QuarantineRow.last_seen: now,
                        QuarantineRow.retry_at: retry_at,
                        QuarantineRow.fingerprint: fingerprint,
                        QuarantineRow.task_json: task_json if temporary else None,
                    },
                )
                .execute()
            )

    @_bound
    def due_retries(self, source_id: str, limit: int) -> list[str]:
        """Stored tasks (JSON) of `source_id`'s temporary failures whose retry time has come."""
        rows = (
            QuarantineRow.select(QuarantineRow.task_json)
            .where(
                QuarantineRow.retry_at.is_null(False),
                QuarantineRow.retry_at <= utcnow(),
                QuarantineRow.task_json.contains(f'"source_id": {json.dumps(source_id)}'),
            )
            .order_by(QuarantineRow.retry_at)
            .limit(limit)
        )
        return [str(row.task_json) for row in rows]

    @_bound
    def quarantined(self) -> list[QuarantineEntry]:
        query = QuarantineRow.select().order_by(QuarantineRow.last_seen.desc())
        return [convert.quarantine_entry(r) for r in query]

    @_bound
    def get_cursor(self, source_id: str) -> str | None:
        row = SourceCursorRow.get_or_none(SourceCursorRow.source_id == source_id)
        return row.cursor if row is not None else None

    @_bound
    def set_cursor(self, source_id: str, cursor: str) -> None:
        now = utcnow()
        (
            SourceCursorRow.insert(source_id=source_id, cursor=cursor, updated_at=now)
            .on_conflict(
                conflict_target=[SourceCursorRow.source_id],
                update={SourceCursorRow.cursor: cursor, SourceCursorRow.updated_at: now},
            )
            .execute()
        )

    @_bound
    def get_value(self, key: str) -> str | None:
        row = KeyValueRow.get_or_none(KeyValueRow.key == key)
        return row.value if row is not None else None

    @_bound
    def set_value(self, key: str, value: str) -> None:
        KeyValueRow.insert(key=key, value=value).on_conflict_replace().execute()

    # ---------------------------------------------------------------------------- stats

    @_bound
    def hourly_counts(self, hours: int = 24) -> list[int]:
        """Images stored in each of the last `hours` hours, oldest first: the rate plot reads
        the store, so it agrees with the counters and survives a restart."""
        now = utcnow()
        rows = execute(
            self._db,
            """
            SELECT CAST((julianday(?) - julianday(created_at)) * 24 AS INTEGER), COUNT(*)
            FROM images WHERE created_at >= ? GROUP BY 1
            """,
            (now.isoformat(sep=" "), (now - timedelta(hours=hours)).isoformat(sep=" ")),
        ).fetchall()
        counts = [0] * hours
        for ago, n in rows:
            if 0 <= int(ago) < hours:
                counts[hours - 1 - int(ago)] += int(n)
        return counts

    @_bound
    def recent_scores(self, model_id: str, limit: int = 500) -> list[ScoreResult]:
        """The latest `limit` judgements by one model, newest first, with the thresholds each
        was judged by: the histogram after a restart, and the cut that was really applied."""
        rows = (
            ScoreRow.select()
            .where(ScoreRow.model_id == model_id)
            .order_by(ScoreRow.id.desc())  # type: ignore[attr-defined]
            .limit(limit)
        )
        return [convert.score_result(row) for row in rows]

    @_bound
    def stats(self) -> StoreStats:
        """Totals for the status bar: latest verdict per image, images per source, today."""
        verdict_rows = execute(
            self._db,
            """
            SELECT s.verdict, COUNT(*) FROM scores s
            JOIN (SELECT MAX(id) AS id FROM scores GROUP BY image_id) latest ON latest.id = s.id
            GROUP BY s.verdict
            """,
        ).fetchall()
        by_source = {
            str(source): int(n)
            for source, n in execute(
                self._db, "SELECT source_id, COUNT(*) FROM images GROUP BY source_id"
            )
        }
        return StoreStats(
            images=int(ImageRow.select().count()),
            by_verdict={Verdict(v): int(n) for v, n in verdict_rows},
            by_source=by_source,
            today=int(
                ImageRow.select().where(ImageRow.created_at >= _local_midnight_utc()).count()
            ),
            candidates=int(
                CandidateRow.select()
                .where(CandidateRow.verdict.in_([v.value for v in _CANDIDATE_VERDICTS]))
                .count()
            ),
            labelled=int(
                CandidateRow.select().where(CandidateRow.label_value.is_null(False)).count()
            ),
            quarantined=int(QuarantineRow.select().count()),
        )
