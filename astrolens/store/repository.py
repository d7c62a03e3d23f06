"""The SQLite repository: every table behind methods that take and return domain objects.

``SqliteRepository`` is the façade the app opens: it owns the database file (opening,
migrating, closing) and is assembled from one part per store port, each in its own module:

    images.py        ImageStore      URIs done, duplicates, sightings, images
    ingest.py        ImageStore      a new image with its vector and score, in one transaction
    embeddings.py    VectorStore     vectors per model, the reference a detector fits on
    scores.py        ScoreStore      scores and calibrations
    candidates.py    CandidateStore  the review queue and its ranking
    crossmatches.py  CrossMatchStore catalog answers and their retries
    learning.py      LearningStore   labels, annotations, training runs
    runs.py          RunStore        quarantine, source cursors, key-values
    stats.py         StatsStore      totals and integrity

Threading: every method blocks. The app creates, calls and closes one ``SqliteRepository``
on its single-thread "db" executor, never on the event loop. peewee keeps one connection per
thread, so that executor owns the only connection; a method called from another thread
would silently open a second connection (still correct under WAL, but not the design).
Opening is cheap when the schema is current: one connection, a few PRAGMAs, one SELECT.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

from peewee import OperationalError as PeeweeOperationalError

from astrolens.store.candidates import SqliteCandidates
from astrolens.store.crossmatches import SqliteCrossMatches, default_retry_delay
from astrolens.store.database import execute, is_disk_full, open_database
from astrolens.store.ingest import SqliteIngest
from astrolens.store.learning import SqliteLearning
from astrolens.store.migrations import MIGRATIONS, Migration, migrate
from astrolens.store.models import ImageRow
from astrolens.store.phash_index import PerceptualHashIndex
from astrolens.store.runs import SqliteRuns, quarantine_retry_delay
from astrolens.store.stats import SqliteStats

if TYPE_CHECKING:
    from astrolens.domain.ports import Repository

__all__ = ["SqliteRepository", "default_retry_delay", "quarantine_retry_delay"]


class SqliteRepository(
    SqliteIngest,  # with SqliteImages, SqliteVectors and SqliteScores
    SqliteCandidates,
    SqliteCrossMatches,
    SqliteLearning,
    SqliteRuns,
    SqliteStats,
):
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


if TYPE_CHECKING:
    # mypy checks here that the assembled store implements every port, signatures included.
    def _implements_every_port(repository: SqliteRepository) -> Repository:
        return repository
