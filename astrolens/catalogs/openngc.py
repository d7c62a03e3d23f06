"""The offline catalog: OpenNGC (NGC/IC, ~14,000 objects) from the `pyongc` package.

pyongc's own query helpers need pandas, which AstroLens does not ship; its bundled SQLite
file (`pyongc.DBPATH`) is read directly instead, read-only. RA/Dec are stored in radians and
the major axis in arcminutes. Loaded once, lazily, then matched with astropy's
`search_around_sky`. An extended object counts when the candidate lies within its half major
axis plus the search radius: a knot in M51's spiral arm is "M51", not a discovery.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from astrolens.catalogs.base import SchemaState, outcome
from astrolens.domain.crossmatch import CatalogObject, CrossMatch
from astrolens.domain.sky import SkyPosition

# OpenNGC type codes that mean "not a real deep-sky object" (duplicates, non-existent).
_SKIP_TYPES = frozenset({"Dup", "NonEx"})
# The largest extent we honour: bigger entries (Milky Way patches, huge nebulae) would
# otherwise make whole constellations "known".
_MAX_HALF_AXIS_ARCSEC = 1800.0


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    otype: str
    position: SkyPosition
    half_axis_arcsec: float
    redshift: float | None
    common: str


def _display_name(name: str, messier: str | None, common: str | None) -> str:
    label = f"M{int(messier)} ({name})" if messier and messier.strip().isdigit() else name
    return f"{label}, {common.split(',')[0]}" if common else label


class OpenNGCCatalog:
    """Blocking, local, always answers. Same call shape as the network clients."""

    service = "openngc"
    catalog = "OpenNGC"
    max_batch = 10_000

    def __init__(self, db_path: str | None = None) -> None:
        self._db_path = db_path
        self._entries: list[_Entry] | None = None
        self._coords: Any = None
        self._lock = threading.Lock()

    @property
    def schema(self) -> SchemaState:
        return SchemaState(self.service, True, "", checked=self._entries is not None)

    @property
    def enabled(self) -> bool:
        return True

    def check_schema(self) -> SchemaState:
        self._load()
        return self.schema

    def __len__(self) -> int:
        return len(self._load())

    def _load(self) -> list[_Entry]:
        with self._lock:
            if self._entries is None:
                path = self._db_path
                if path is None:
                    import pyongc

                    path = str(pyongc.DBPATH)
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                try:
                    rows = conn.execute(
                        "SELECT name, type, ra, dec, majax, redshift, messier, commonnames "
                        "FROM objects WHERE ra IS NOT NULL AND dec IS NOT NULL"
                    ).fetchall()
                finally:
                    conn.close()
                entries = []
                for name, otype, ra, dec, majax, z, messier, common in rows:
                    if otype in _SKIP_TYPES:
                        continue
                    half = min(_MAX_HALF_AXIS_ARCSEC, (majax or 0.0) * 30.0)
                    entries.append(
                        _Entry(
                            _display_name(name, messier, common),
                            otype,
                            SkyPosition(math.degrees(ra), math.degrees(dec)),
                            half,
                            z,
                            common or "",
                        )
                    )
                import astropy.units as u
                from astropy.coordinates import SkyCoord

                self._coords = SkyCoord(
                    [e.position.ra_deg for e in entries] * u.deg,
                    [e.position.dec_deg for e in entries] * u.deg,
                    frame="icrs",
                )
                self._entries = entries
            return self._entries

    def query(self, positions: Sequence[SkyPosition], radius_arcsec: float) -> list[CrossMatch]:
        import astropy.units as u
        from astropy.coordinates import SkyCoord, search_around_sky

        if not positions:
            return []
        entries = self._load()
        targets = SkyCoord(
            [p.ra_deg for p in positions] * u.deg,
            [p.dec_deg for p in positions] * u.deg,
            frame="icrs",
        )
        reach = (radius_arcsec + _MAX_HALF_AXIS_ARCSEC) * u.arcsec
        idx_target, idx_cat, sep, _ = search_around_sky(targets, self._coords, reach)
        found: list[list[CatalogObject]] = [[] for _ in positions]
        for t, c, s in zip(idx_target, idx_cat, sep.to_value(u.arcsec), strict=True):
            entry = entries[int(c)]
            if s <= radius_arcsec + entry.half_axis_arcsec:
                found[int(t)].append(
                    CatalogObject(
                        name=entry.name,
                        object_type=entry.otype,
                        position=entry.position,
                        separation_arcsec=float(s),
                        redshift=entry.redshift,
                        service=self.service,
                    )
                )
        now = datetime.now(UTC)
        results = []
        for objs in found:
            r = outcome(self.service, radius_arcsec, objs, catalog=self.catalog)
            results.append(
                CrossMatch(
                    r.service,
                    r.status,
                    r.radius_arcsec,
                    r.objects,
                    checked_at=now,
                    catalog=r.catalog,
                )
            )
        return results
