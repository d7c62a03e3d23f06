"""A disk cache of answers, keyed by (service, position, radius, catalog), with an expiry.

SQLite, because several executor threads read and write it at once. Errors are never
cached: a failed service must be asked again, not remembered as failed (or, worse, empty).
Positions are rounded to 0.1 arcsec so that the same source seen in two overlapping
cutouts hits the same entry.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from astrolens.domain.crossmatch import (
    CrossMatch,
    MatchStatus,
    crossmatch_from_json,
    crossmatch_to_json,
)
from astrolens.domain.sky import SkyPosition

_ROUND_DEG = 1.0 / 36000.0  # 0.1 arcsec


def cache_key(
    service: str, position: SkyPosition, radius_arcsec: float, catalog: str | None
) -> str:
    ra = round(position.ra_deg / _ROUND_DEG)
    dec = round(position.dec_deg / _ROUND_DEG)
    return f"{service}|{catalog or ''}|{ra}|{dec}|{radius_arcsec:.2f}"


class CrossMatchCache:
    def __init__(self, path: Path, ttl_seconds: float = 30 * 86400.0, clock: Any = time.time):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, stored REAL, body TEXT)"
        )

    def get(
        self, service: str, position: SkyPosition, radius_arcsec: float, catalog: str | None
    ) -> CrossMatch | None:
        key = cache_key(service, position, radius_arcsec, catalog)
        with self._lock:
            row = self._conn.execute(
                "SELECT stored, body FROM answers WHERE key = ?", (key,)
            ).fetchone()
        if row is None or self._clock() - row[0] > self.ttl:
            return None
        return crossmatch_from_json(json.loads(row[1]))

    def put(self, position: SkyPosition, result: CrossMatch) -> bool:
        """Store a MATCH or NO_MATCH; refuse anything else. Returns whether it was stored."""
        if result.status not in (MatchStatus.MATCH, MatchStatus.NO_MATCH):
            return False
        key = cache_key(result.service, position, result.radius_arcsec, result.catalog)
        body = json.dumps(crossmatch_to_json(result))
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers (key, stored, body) VALUES (?, ?, ?)",
                (key, self._clock(), body),
            )
        return True

    def purge_expired(self) -> int:
        with self._lock:
            cur = self._conn.execute(
                "DELETE FROM answers WHERE stored < ?", (self._clock() - self.ttl,)
            )
        return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()
