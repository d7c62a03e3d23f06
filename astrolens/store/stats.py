"""Totals and health of the store, for the status bar and `doctor`.

Implements ``astrolens.domain.store_ports.StatsStore``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from astrolens.domain.records import (
    StoreStats,
)
from astrolens.domain.scoring import Verdict
from astrolens.store.base import SqliteStoreBase, bound
from astrolens.store.candidates import CANDIDATE_VERDICTS
from astrolens.store.database import execute
from astrolens.store.models import (
    CandidateRow,
    ImageRow,
    QuarantineRow,
    utcnow,
)


def _local_midnight_utc() -> datetime:
    """Today's start in the user's time zone, as the naive UTC the store keeps."""
    local_midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    return local_midnight.astimezone(UTC).replace(tzinfo=None)


class SqliteStats(SqliteStoreBase):
    """``StatsStore`` on SQLite."""

    def integrity_check(self) -> str:
        """SQLite's own check: 'ok' or a description of the damage."""
        rows = execute(self._db, "PRAGMA integrity_check").fetchall()
        return "; ".join(str(r[0]) for r in rows)

    @bound
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

    @bound
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
                .where(CandidateRow.verdict.in_([v.value for v in CANDIDATE_VERDICTS]))
                .count()
            ),
            labelled=int(
                CandidateRow.select().where(CandidateRow.label_value.is_null(False)).count()
            ),
            quarantined=int(QuarantineRow.select().count()),
        )
