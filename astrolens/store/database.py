"""Opening the SQLite file with the settings every AstroLens connection needs."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from peewee import SqliteDatabase

# WAL lets the UI's reads proceed while the pipeline writes; synchronous=normal is safe in
# WAL mode (a power cut may lose the last commits, never corrupt the file) and much faster
# than full. The busy timeout covers a second process (the CLI) touching the same file.
BUSY_TIMEOUT_MS = 5000
PRAGMAS: dict[str, object] = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "busy_timeout": BUSY_TIMEOUT_MS,
    "cache_size": -16_000,  # 16 MB page cache
}


def is_disk_full(exc: BaseException | None) -> bool:
    """SQLite's SQLITE_FULL ('database or disk is full'), however peewee wrapped it.

    SQLite rolls a transaction back by itself on SQLITE_FULL, so peewee's own ROLLBACK then
    fails with 'no transaction is active' and hides the cause: follow the exception chain."""
    seen = 0
    while exc is not None and seen < 10:
        code = getattr(exc, "sqlite_errorname", "")
        if code == "SQLITE_FULL" or "database or disk is full" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def open_database(path: Path) -> SqliteDatabase:
    """A peewee database for ``path``; it connects lazily on the thread that first uses it.

    peewee keeps one connection per thread. AstroLens uses the store from a single "db"
    executor thread, so in practice there is exactly one connection.
    """
    return SqliteDatabase(str(path), pragmas=PRAGMAS, timeout=BUSY_TIMEOUT_MS / 1000)


def execute_many(db: SqliteDatabase, sql: str, rows: Sequence[Sequence[object]]) -> None:
    """One statement for many parameter rows (call inside a transaction): thousands of rows
    cost one round of statement preparation instead of one per row."""
    cursor: sqlite3.Cursor = db.cursor()  # type: ignore[no-untyped-call]
    cursor.executemany(sql, rows)


def execute(db: SqliteDatabase, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
    """Raw SQL for the few queries clearer in SQL than in peewee's builder (typed wrapper)."""
    cursor: sqlite3.Cursor = db.execute_sql(sql, tuple(params))  # type: ignore[no-untyped-call]
    return cursor
