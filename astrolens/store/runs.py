"""What a run leaves for the next: quarantined URIs, source cursors, small settings.

Implements ``astrolens.domain.store_ports.RunStore``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta

from astrolens.domain.records import (
    QuarantineEntry,
)
from astrolens.store import convert
from astrolens.store.base import SqliteStoreBase, bound
from astrolens.store.models import (
    KeyValueRow,
    QuarantineRow,
    SourceCursorRow,
    utcnow,
)


def quarantine_retry_delay(attempts: int) -> timedelta:
    """When to read a temporarily unreadable file or URL again: at once on the next cycle
    after the first failure (a scan rerun), then 1 min doubling, capped at a day."""
    if attempts <= 1:
        return timedelta(0)
    return min(timedelta(minutes=1) * (1 << min(attempts - 2, 20)), timedelta(days=1))


class SqliteRuns(SqliteStoreBase):
    """``RunStore`` on SQLite."""

    @bound
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

    @bound
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

    @bound
    def quarantined(self) -> list[QuarantineEntry]:
        query = QuarantineRow.select().order_by(QuarantineRow.last_seen.desc())
        return [convert.quarantine_entry(r) for r in query]

    @bound
    def get_cursor(self, source_id: str) -> str | None:
        row = SourceCursorRow.get_or_none(SourceCursorRow.source_id == source_id)
        return row.cursor if row is not None else None

    @bound
    def set_cursor(self, source_id: str, cursor: str) -> None:
        self.set_cursors({source_id: cursor})

    @bound
    def set_cursors(self, cursors: Mapping[str, str]) -> None:
        """Several sources' cursors in one transaction."""
        now = utcnow()
        with self._db.atomic():
            for source_id, cursor in cursors.items():
                (
                    SourceCursorRow.insert(source_id=source_id, cursor=cursor, updated_at=now)
                    .on_conflict(
                        conflict_target=[SourceCursorRow.source_id],
                        update={SourceCursorRow.cursor: cursor, SourceCursorRow.updated_at: now},
                    )
                    .execute()
                )

    @bound
    def get_value(self, key: str) -> str | None:
        row = KeyValueRow.get_or_none(KeyValueRow.key == key)
        return row.value if row is not None else None

    @bound
    def set_value(self, key: str, value: str) -> None:
        KeyValueRow.insert(key=key, value=value).on_conflict_replace().execute()
