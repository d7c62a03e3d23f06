"""Adding a new image with its vector and score: the writes that span several tables.

The image part of ``astrolens.domain.store_ports.ImageStore`` that needs images.py,
embeddings.py and scores.py together, each batch one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from astrolens.domain.embedding import Embedding, ModelMismatchError
from astrolens.domain.images import DecodedImage, ImageRecord
from astrolens.domain.scoring import ScoreResult
from astrolens.domain.writes import NewImage, StoredImage
from astrolens.store import convert
from astrolens.store.base import bound
from astrolens.store.embeddings import SqliteVectors
from astrolens.store.images import SqliteImages
from astrolens.store.scores import SqliteScores


class SqliteIngest(SqliteImages, SqliteVectors, SqliteScores):
    """Image, vector, score and candidate written together."""

    @bound
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

    @bound
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
