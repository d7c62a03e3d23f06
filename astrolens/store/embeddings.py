"""Embeddings: each image's vector per model, and the reference a detector fits on.

Implements ``astrolens.domain.store_ports.VectorStore``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import cast

import numpy as np
from peewee import JOIN

from astrolens.domain.embedding import Embedding, require_same_model
from astrolens.domain.images import ImageGroup
from astrolens.domain.ports import Matrix
from astrolens.domain.reference import REFERENCE, ReferenceRule
from astrolens.store import convert
from astrolens.store.base import SqliteStoreBase, bound
from astrolens.store.database import execute
from astrolens.store.models import (
    EmbeddingRow,
    ImageRow,
    ScoreRow,
    utcnow,
)


def read_vectors(cursor: sqlite3.Cursor, model_id: str) -> tuple[list[int], Matrix]:
    """(image ids, (N, dim) matrix) from rows of (image_id, dim, vector blob), all of one
    model: a row of another dimension raises ModelMismatchError."""
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


def _placeholders(values: Sequence[str]) -> str:
    return ", ".join("?" * len(values))


def _reference_condition(rule: ReferenceRule) -> tuple[str, list[object]]:
    """`rule` as an SQL condition on the image `i`, its latest score `s` and its latest label
    `l`, with its parameters: ReferenceRule.admits, in SQL. Only placeholders are formatted
    into the text; every value is a bound parameter."""
    vetoed = sorted(v.value for v in rule.vetoed)
    vouched = sorted(v.value for v in rule.vouched)
    verdicts = sorted(v.value for v in rule.verdicts)
    sql = (
        "(? IS NULL OR json_extract(i.extra_json, '$.kind') = ?)"
        f" AND (l.value IS NULL OR l.value NOT IN ({_placeholders(vetoed)}))"
        f" AND (l.value IN ({_placeholders(vouched)}) OR (? AND s.id IS NULL)"
        f" OR s.verdict IN ({_placeholders(verdicts)}))"
    )
    params: list[object] = [rule.kind, rule.kind, *vetoed, *vouched, int(rule.unscored), *verdicts]
    return sql, params


class SqliteVectors(SqliteStoreBase):
    """``VectorStore`` on SQLite."""

    @bound
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

    @bound
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

    @bound
    def reference_vectors(
        self,
        model_id: str,
        group: ImageGroup,
        limit: int,
        kind: str | None = None,
        *,
        rule: ReferenceRule = REFERENCE,
    ) -> tuple[list[int], Matrix]:
        """The newest vectors of `group` a detector may treat as normal: those of the images
        `rule` admits by their latest verdict of this model and their latest label (see
        domain/reference.py). `kind` narrows the rule to one look-alike kind."""
        if kind is not None:
            rule = rule.of_kind(kind)
        where, params = _reference_condition(rule)
        cursor = execute(
            self._db,
            f"""
            SELECT e.image_id, e.dim, e.vector
            FROM embeddings e
            JOIN images i ON i.id = e.image_id
            LEFT JOIN (SELECT image_id, MAX(id) AS sid FROM scores
                       WHERE model_id = ? GROUP BY image_id) ls ON ls.image_id = e.image_id
            LEFT JOIN scores s ON s.id = ls.sid
            LEFT JOIN (SELECT image_id, MAX(id) AS lid FROM labels
                       GROUP BY image_id) ll ON ll.image_id = e.image_id
            LEFT JOIN labels l ON l.id = ll.lid
            WHERE e.model_id = ? AND i.image_group = ? AND {where}
            ORDER BY e.id DESC
            LIMIT ?
            """,
            (model_id, model_id, group.value, *params, limit),
        )
        return read_vectors(cursor, model_id)

    @bound
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

    @bound
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
        return read_vectors(execute(self._db, sql + " ORDER BY e.image_id", params), model_id)

    @bound
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
            got_ids, got = read_vectors(execute(self._db, sql, [model_id, *part]), model_id)
            if got_ids:
                if chunks and got.shape[1] != chunks[0].shape[1]:
                    require_same_model(model_id, chunks[0].shape[1], model_id, got.shape[1])
                ids += got_ids
                chunks.append(got)
        if not chunks:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.concatenate(chunks)
