"""Images: which URIs are done, duplicates and sightings, adding and listing images.

Implements ``astrolens.domain.store_ports.ImageStore`` (with ingest.py, which adds an
image together with its vector and score).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from peewee import JOIN

from astrolens.domain.dedupe import DEFAULT_MAX_DISTANCE, could_be_same_object
from astrolens.domain.images import DecodedImage, ImageRecord
from astrolens.domain.lookalike import stored_kind
from astrolens.store import convert
from astrolens.store.base import SqliteStoreBase, bound
from astrolens.store.database import execute, execute_many
from astrolens.store.models import (
    EmbeddingRow,
    ImageRow,
    QuarantineRow,
    SightingRow,
    UnfinishedFileRow,
    utcnow,
)


class SqliteImages(SqliteStoreBase):
    """``ImageStore`` on SQLite."""

    @bound
    def has_uri(self, uri: str) -> bool:
        """True if the URI was ingested (as image, frame or sighting) or quarantined."""
        return bool(
            ImageRow.select().where((ImageRow.uri == uri) | (ImageRow.parent_uri == uri)).exists()
            or SightingRow.select().where(SightingRow.uri == uri).exists()
            or QuarantineRow.select().where(QuarantineRow.uri == uri).exists()
        )

    @bound
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

    @bound
    def begin_file(self, uri: str) -> None:
        """`uri` gives several images (a frame and its stamps): not done until finish_file."""
        UnfinishedFileRow.insert(uri=uri, started_at=utcnow()).on_conflict_replace().execute()

    @bound
    def finish_file(self, uri: str) -> None:
        """Every image of `uri` is stored: it is done, and no longer quarantined if it was."""
        self.finish_files([uri])

    @bound
    def finish_files(self, uris: Sequence[str]) -> None:
        """`finish_file` of each, in one transaction (a scan finishes a batch of files at a
        time: one commit instead of one per file)."""
        rows = [(uri,) for uri in uris]
        with self._db.atomic():
            execute_many(self._db, "DELETE FROM unfinished_files WHERE uri = ?", rows)
            execute_many(self._db, "DELETE FROM quarantine WHERE uri = ?", rows)

    @bound
    def find_duplicate(
        self, image: DecodedImage, max_distance: int = DEFAULT_MAX_DISTANCE
    ) -> ImageRecord | None:
        """Same bytes first; otherwise a look-alike (perceptual hash within `max_distance`
        bits) that may be the same object (domain.dedupe.could_be_same_object)."""
        return self._find_duplicate(image, max_distance)

    @bound
    def find_duplicates(self, images: Sequence[DecodedImage]) -> list[ImageRecord | None]:
        """`find_duplicate` of each image, in one call (one trip to the db thread per frame)."""
        return [self._find_duplicate(image) for image in images]

    def _find_duplicate(
        self, image: DecodedImage, max_distance: int = DEFAULT_MAX_DISTANCE
    ) -> ImageRecord | None:
        # Almost every image is new: ask for the id alone in plain SQL (peewee's query
        # building cost ten times the lookup) and load a row only when there is one.
        same = execute(
            self._db, "SELECT id FROM images WHERE content_hash = ? LIMIT 1", (image.content_hash,)
        ).fetchone()
        if same is not None:
            return convert.image_record(ImageRow.get_by_id(int(same[0])))
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

    @bound
    def record_sighting(self, image_id: int, uri: str) -> None:
        with self._db.atomic():
            self._record_sighting(image_id, uri)

    def _record_sighting(self, image_id: int, uri: str) -> None:
        SightingRow.create(image=image_id, uri=uri)
        ImageRow.update(sightings=ImageRow.sightings + 1).where(ImageRow.id == image_id).execute()

    @bound
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

    @bound
    def get_image(self, image_id: int) -> ImageRecord | None:
        row = ImageRow.get_or_none(ImageRow.id == image_id)
        return convert.image_record(row) if row is not None else None

    @bound
    def list_images(
        self, limit: int, after_id: int = 0, source_id: str | None = None
    ) -> list[ImageRecord]:
        """Images by id, from just after `after_id` (keyset paging: stable while a scan adds)."""
        query = ImageRow.select().where(ImageRow.id > after_id)
        if source_id is not None:
            query = query.where(ImageRow.source_id == source_id)
        return [convert.image_record(r) for r in query.order_by(ImageRow.id).limit(limit)]

    @bound
    def count_images(self) -> int:
        return int(ImageRow.select().count())

    @bound
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

    @bound
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
