"""Schema versions: backup before migrating, all-or-nothing migrations, refusal of the future."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from astrolens.store.database import execute
from astrolens.store.migrations import (
    MIGRATIONS,
    Migration,
    MigrationOrderError,
    SchemaTooNewError,
    latest_version,
)
from astrolens.store.models import ALL_MODELS
from astrolens.store.repository import SqliteRepository
from tests.store.builders import decoded


def _add_note_column(db: SqliteDatabase) -> None:
    execute(db, "ALTER TABLE images ADD COLUMN note TEXT NOT NULL DEFAULT ''")
    execute(db, "UPDATE images SET note = 'migrated'")


OLD = latest_version()
NEW = OLD + 1
V2 = (*MIGRATIONS, Migration(NEW, "images get a note", _add_note_column))


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])


def test_new_database_is_created_at_latest_without_backup(db_path: Path) -> None:
    repo = SqliteRepository(db_path)
    repo.close()
    assert repo.migration_backup is None
    assert _version(db_path) == latest_version()
    assert not (db_path.parent / "backups").exists()


def test_models_agree_with_the_migrated_schema(db_path: Path) -> None:
    SqliteRepository(db_path).close()
    with sqlite3.connect(db_path) as conn:
        for model in ALL_MODELS:
            table = model._meta.table_name
            columns = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
            assert columns == {f.column_name for f in model._meta.sorted_fields}, table
    reference = SqliteDatabase(":memory:")
    with reference.bind_ctx(ALL_MODELS):
        reference.create_tables(ALL_MODELS)
    expected = {r[0] for r in execute(reference, "SELECT name FROM sqlite_master")}
    with sqlite3.connect(db_path) as conn:
        actual = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert expected <= actual and actual - expected == {"schema_version"}


def test_upgrade_backs_up_then_migrates_keeping_data(db_path: Path) -> None:
    repo = SqliteRepository(db_path)
    image = repo.add_image(decoded(1), None, None)
    repo.set_cursor("sdss", "page=7")
    # leave the data in the WAL, as a crash or a running app would: the backup must see it
    repo._db.close()

    upgraded = SqliteRepository(db_path, migrations=V2)
    try:
        backup = upgraded.migration_backup
        assert backup is not None and backup.exists()
        assert backup.parent == db_path.parent / "backups"
        assert backup.name.startswith(f"{db_path.stem}-v{OLD}-")
        assert _version(db_path) == NEW
        assert upgraded.get_image(image.id) == image
        assert upgraded.get_cursor("sdss") == "page=7"
        note = upgraded._db.execute_sql("SELECT note FROM images").fetchone()[0]
        assert note == "migrated"
    finally:
        upgraded.close()
    assert _version(backup) == OLD
    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT content_hash FROM images").fetchall() == [(image.content_hash,)]
    # opening again at v2 makes no further backup
    again = SqliteRepository(db_path, migrations=V2)
    again.close()
    assert again.migration_backup is None
    assert len(list((db_path.parent / "backups").iterdir())) == 1


def test_failed_migration_leaves_the_old_version(db_path: Path) -> None:
    repo = SqliteRepository(db_path)
    repo.add_image(decoded(1), None, None)
    repo.close()

    def half_then_fail(db: SqliteDatabase) -> None:
        _add_note_column(db)
        raise RuntimeError("migration bug")

    with pytest.raises(RuntimeError, match="migration bug"):
        SqliteRepository(db_path, migrations=(*MIGRATIONS, Migration(NEW, "bad", half_then_fail)))
    assert _version(db_path) == OLD
    with sqlite3.connect(db_path) as conn:
        columns = {row[1] for row in conn.execute('PRAGMA table_info("images")')}
        assert "note" not in columns
        assert conn.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 1
    assert len(list((db_path.parent / "backups").iterdir())) == 1


def test_database_newer_than_the_code_is_refused(db_path: Path) -> None:
    SqliteRepository(db_path, migrations=V2).close()
    with pytest.raises(SchemaTooNewError, match=rf"schema version {NEW}.*only up to {OLD}"):
        SqliteRepository(db_path)


def test_migrations_must_be_numbered_in_order(db_path: Path) -> None:
    with pytest.raises(MigrationOrderError):
        SqliteRepository(
            db_path, migrations=(*MIGRATIONS, Migration(NEW + 1, "gap", _add_note_column))
        )
