"""Numbered schema migrations, with a consistent file backup before any of them runs.

Each migration is frozen SQL: once released it never changes, because a user's database
went through it. A new schema is a new numbered migration appended to ``MIGRATIONS``
(and the models in ``models.py`` updated to match; a test compares the two).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from peewee import SqliteDatabase

from astrolens.domain.errors import AstroLensError
from astrolens.store.database import execute


class SchemaTooNewError(AstroLensError):
    """The database was written by a newer AstroLens; opening it could corrupt it."""

    exit_code = 6


class MigrationOrderError(ValueError):
    """The migration list is not 1, 2, ..., N: a programming error, not a user's."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[SqliteDatabase], None]


def _run_statements(statements: Sequence[str]) -> Callable[[SqliteDatabase], None]:
    def apply(db: SqliteDatabase) -> None:
        for sql in statements:
            execute(db, sql)

    return apply


_V1_INITIAL_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE "calibrations" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "version" INTEGER NOT NULL,
        "model_id" VARCHAR(255) NOT NULL,
        "image_group" VARCHAR(255) NOT NULL,
        "reference_size" INTEGER NOT NULL,
        "fdr" REAL NOT NULL,
        "anomaly_p" REAL NOT NULL,
        "near_miss_p" REAL NOT NULL,
        "bootstrap" INTEGER NOT NULL,
        "created_at" DATETIME NOT NULL
    )""",
    """CREATE TABLE "candidates" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "image_id" INTEGER NOT NULL,
        "score_row_id" INTEGER NOT NULL,
        "model_id" VARCHAR(255) NOT NULL,
        "source_id" VARCHAR(255) NOT NULL,
        "verdict" VARCHAR(255) NOT NULL,
        "score" REAL NOT NULL,
        "rank_score" REAL,
        "catalog_verdict" VARCHAR(255) NOT NULL,
        "label_value" VARCHAR(255),
        "created_at" DATETIME NOT NULL,
        "updated_at" DATETIME NOT NULL,
        FOREIGN KEY ("image_id") REFERENCES "images" ("id") ON DELETE CASCADE,
        FOREIGN KEY ("score_row_id") REFERENCES "scores" ("id") ON DELETE CASCADE
    )""",
    """CREATE TABLE "crossmatches" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "image_id" INTEGER NOT NULL,
        "service" VARCHAR(255) NOT NULL,
        "catalog" VARCHAR(255),
        "status" VARCHAR(255) NOT NULL,
        "radius_arcsec" REAL NOT NULL,
        "objects_json" TEXT NOT NULL,
        "reason" TEXT NOT NULL,
        "attempts" INTEGER NOT NULL,
        "checked_at" DATETIME,
        "next_retry_at" DATETIME,
        FOREIGN KEY ("image_id") REFERENCES "images" ("id") ON DELETE CASCADE
    )""",
    """CREATE TABLE "embeddings" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "image_id" INTEGER NOT NULL,
        "model_id" VARCHAR(255) NOT NULL,
        "dim" INTEGER NOT NULL,
        "vector" BLOB NOT NULL,
        "created_at" DATETIME NOT NULL,
        FOREIGN KEY ("image_id") REFERENCES "images" ("id") ON DELETE CASCADE
    )""",
    """CREATE TABLE "images" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "content_hash" VARCHAR(255) NOT NULL,
        "perceptual_hash" VARCHAR(255) NOT NULL,
        "source_id" VARCHAR(255) NOT NULL,
        "uri" VARCHAR(255) NOT NULL,
        "parent_uri" VARCHAR(255),
        "ra_deg" REAL,
        "dec_deg" REAL,
        "pixel_scale_arcsec" REAL,
        "survey" VARCHAR(255),
        "bands" VARCHAR(255),
        "width" INTEGER NOT NULL,
        "height" INTEGER NOT NULL,
        "image_group" VARCHAR(255) NOT NULL,
        "stamp_x" REAL,
        "stamp_y" REAL,
        "object_size_px" REAL,
        "image_path" TEXT,
        "thumbnail_path" TEXT,
        "extra_json" TEXT NOT NULL,
        "sightings" INTEGER NOT NULL,
        "created_at" DATETIME NOT NULL
    )""",
    """CREATE TABLE "key_values" (
        "key" VARCHAR(255) NOT NULL PRIMARY KEY,
        "value" TEXT NOT NULL
    )""",
    """CREATE TABLE "labels" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "image_id" INTEGER NOT NULL,
        "value" VARCHAR(255) NOT NULL,
        "author" VARCHAR(255) NOT NULL,
        "note" TEXT NOT NULL,
        "origin" VARCHAR(255) NOT NULL,
        "created_at" DATETIME NOT NULL,
        FOREIGN KEY ("image_id") REFERENCES "images" ("id") ON DELETE CASCADE
    )""",
    """CREATE TABLE "quarantine" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "uri" VARCHAR(255) NOT NULL,
        "reason" TEXT NOT NULL,
        "count" INTEGER NOT NULL,
        "last_seen" DATETIME NOT NULL
    )""",
    """CREATE TABLE "scores" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "image_id" INTEGER NOT NULL,
        "model_id" VARCHAR(255) NOT NULL,
        "score" REAL NOT NULL,
        "p_value" REAL NOT NULL,
        "verdict" VARCHAR(255) NOT NULL,
        "detector_scores_json" TEXT NOT NULL,
        "calibration_version" INTEGER NOT NULL,
        "anomaly_p" REAL,
        "near_miss_p" REAL,
        "created_at" DATETIME NOT NULL,
        FOREIGN KEY ("image_id") REFERENCES "images" ("id") ON DELETE CASCADE
    )""",
    """CREATE TABLE "sightings" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "image_id" INTEGER NOT NULL,
        "uri" VARCHAR(255) NOT NULL,
        "seen_at" DATETIME NOT NULL,
        FOREIGN KEY ("image_id") REFERENCES "images" ("id") ON DELETE CASCADE
    )""",
    """CREATE TABLE "source_cursors" (
        "source_id" VARCHAR(255) NOT NULL PRIMARY KEY,
        "cursor" TEXT NOT NULL,
        "updated_at" DATETIME NOT NULL
    )""",
    """CREATE TABLE "training_runs" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "model_id" VARCHAR(255) NOT NULL,
        "parameters_json" TEXT NOT NULL,
        "data_description" TEXT NOT NULL,
        "metrics_before_json" TEXT NOT NULL,
        "metrics_after_json" TEXT NOT NULL,
        "promoted" INTEGER NOT NULL,
        "status" VARCHAR(255) NOT NULL,
        "started_at" DATETIME NOT NULL,
        "finished_at" DATETIME
    )""",
    'CREATE INDEX "calibrationrow_model_id_image_group_version" '
    'ON "calibrations" ("model_id", "image_group", "version")',
    'CREATE UNIQUE INDEX "calibrationrow_version" ON "calibrations" ("version")',
    'CREATE INDEX "candidaterow_catalog_verdict" ON "candidates" ("catalog_verdict")',
    'CREATE INDEX "candidaterow_created_at" ON "candidates" ("created_at")',
    'CREATE UNIQUE INDEX "candidaterow_image_id" ON "candidates" ("image_id")',
    'CREATE INDEX "candidaterow_label_value" ON "candidates" ("label_value")',
    'CREATE INDEX "candidaterow_rank_score" ON "candidates" ("rank_score")',
    'CREATE INDEX "candidaterow_score_row_id" ON "candidates" ("score_row_id")',
    'CREATE INDEX "candidaterow_source_id" ON "candidates" ("source_id")',
    'CREATE INDEX "candidaterow_verdict_score" ON "candidates" ("verdict", "score")',
    'CREATE UNIQUE INDEX "crossmatchrow_image_id_service" '
    'ON "crossmatches" ("image_id", "service")',
    'CREATE INDEX "crossmatchrow_next_retry_at" ON "crossmatches" ("next_retry_at")',
    'CREATE UNIQUE INDEX "embeddingrow_image_id_model_id" ON "embeddings" ("image_id", "model_id")',
    'CREATE INDEX "embeddingrow_model_id" ON "embeddings" ("model_id")',
    'CREATE UNIQUE INDEX "imagerow_content_hash" ON "images" ("content_hash")',
    'CREATE INDEX "imagerow_created_at" ON "images" ("created_at")',
    'CREATE INDEX "imagerow_image_group" ON "images" ("image_group")',
    'CREATE INDEX "imagerow_parent_uri" ON "images" ("parent_uri")',
    'CREATE INDEX "imagerow_perceptual_hash" ON "images" ("perceptual_hash")',
    'CREATE INDEX "imagerow_source_id" ON "images" ("source_id")',
    'CREATE INDEX "imagerow_uri" ON "images" ("uri")',
    'CREATE INDEX "labelrow_image_id" ON "labels" ("image_id")',
    'CREATE UNIQUE INDEX "quarantinerow_uri" ON "quarantine" ("uri")',
    'CREATE INDEX "scorerow_image_id" ON "scores" ("image_id")',
    'CREATE INDEX "scorerow_model_id_image_id_id" ON "scores" ("model_id", "image_id", "id")',
    'CREATE INDEX "sightingrow_image_id" ON "sightings" ("image_id")',
    'CREATE INDEX "sightingrow_uri" ON "sightings" ("uri")',
    'CREATE INDEX "trainingrunrow_model_id" ON "training_runs" ("model_id")',
)

# Quarantine tells "bad file" (retry_at NULL) from "try again later" (retry_at set), and
# remembers the file's size and mtime so an edited file is read again. A multi-image file (a
# frame and its stamps) is listed in unfinished_files until every image of it is stored.
_V2_RETRYABLE_QUARANTINE: tuple[str, ...] = (
    'ALTER TABLE "quarantine" ADD COLUMN "retry_at" DATETIME',
    'ALTER TABLE "quarantine" ADD COLUMN "fingerprint" VARCHAR(255)',
    'ALTER TABLE "quarantine" ADD COLUMN "task_json" TEXT',
    """CREATE TABLE "unfinished_files" (
        "uri" VARCHAR(255) NOT NULL PRIMARY KEY,
        "started_at" DATETIME NOT NULL
    )""",
)

_V3_ANNOTATIONS = (
    """CREATE TABLE "annotations" (
        "id" INTEGER NOT NULL PRIMARY KEY,
        "image_id" INTEGER NOT NULL,
        "provider" VARCHAR(255) NOT NULL,
        "model" VARCHAR(255) NOT NULL,
        "prompt_version" INTEGER NOT NULL,
        "text" TEXT NOT NULL,
        "created_at" DATETIME NOT NULL,
        FOREIGN KEY ("image_id") REFERENCES "images" ("id") ON DELETE CASCADE
    )""",
    'CREATE INDEX "annotationrow_image_id" ON "annotations" ("image_id")',
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _run_statements(_V1_INITIAL_SCHEMA)),
    Migration(
        2, "retryable quarantine, unfinished files", _run_statements(_V2_RETRYABLE_QUARANTINE)
    ),
    Migration(3, "LLM annotations", _run_statements(_V3_ANNOTATIONS)),
)


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return max((m.version for m in migrations), default=0)


def schema_version(db: SqliteDatabase) -> int:
    """0 for a new, empty database."""
    if not db.table_exists("schema_version"):
        return 0
    row = execute(db, "SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def backup_database(db: SqliteDatabase, target: Path) -> Path:
    """Copy the open database with SQLite's online backup API.

    A plain file copy of a WAL database can miss the pages still in the -wal file; the
    backup API reads through the connection and yields one consistent snapshot. It is
    written to a temp name and renamed, so a crash never leaves a half backup that looks whole.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    dest = sqlite3.connect(partial)
    try:
        source: sqlite3.Connection = db.connection()  # type: ignore[no-untyped-call]
        source.backup(dest)
        # The copy inherits WAL mode; a backup should be one self-contained file.
        dest.execute("PRAGMA journal_mode=DELETE")
    finally:
        dest.close()
    os.replace(partial, target)
    return target


def migrate(
    db: SqliteDatabase,
    db_path: Path,
    backups_dir: Path,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> Path | None:
    """Bring the schema to the latest version. Returns the backup made, if any.

    All pending migrations run in one transaction (SQLite DDL is transactional): a failure
    leaves the database exactly at its old version, next to the backup.
    """
    ordered = sorted(migrations, key=lambda m: m.version)
    if [m.version for m in ordered] != list(range(1, len(ordered) + 1)):
        raise MigrationOrderError(f"migrations must be numbered 1..N, got {ordered}")
    current = schema_version(db)
    latest = latest_version(ordered)
    if current > latest:
        raise SchemaTooNewError(
            f"{db_path} has schema version {current}, but this AstroLens knows only up to "
            f"{latest}: update AstroLens, or open a backup made before the upgrade"
        )
    if current == latest:
        return None
    backup = None
    if current > 0:  # a brand-new database has nothing worth a backup
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        backup = backup_database(db, backups_dir / f"{db_path.stem}-v{current}-{stamp}.sqlite3")
    with db.atomic():
        execute(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for migration in ordered:
            if migration.version > current:
                migration.apply(db)
        execute(db, "DELETE FROM schema_version")
        execute(db, "INSERT INTO schema_version (version) VALUES (?)", (latest,))
    return backup
