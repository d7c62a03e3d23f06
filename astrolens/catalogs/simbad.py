"""SIMBAD through astroquery's TAP interface (astroquery >= 0.4.8, lower-case columns).

astroquery's `SimbadClass` is used as is for building the ADQL (`query_region`, vector
SkyCoord for batches) and running it, with four narrow overrides, each because the stock
behaviour would hurt a background app:
- `tap`: the service URL comes from our constructor (default: the real SIMBAD), so tests and
  mirrors need no monkeypatching;
- `hardlimit`/`uploadlimit`: astroquery asks the network for these on first use, an extra
  request outside our rate limiter; we use SIMBAD's documented limits;
- `query_tap`: astroquery memoises results in-process (`lru_cache`); we have our own cache
  with an expiry, and a memo would hide a recovered or changed service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from astrolens.catalogs.base import (
    CatalogClient,
    CatalogRow,
    as_float,
    cell,
    cone_matches,
    require_columns,
)
from astrolens.catalogs.http_session import harden_session
from astrolens.domain.catalog_conf import SIMBAD
from astrolens.domain.crossmatch import CrossMatch
from astrolens.domain.sky import SkyPosition

# Columns of SIMBAD's `basic` table we read. `main_id`, `ra`, `dec`, `otype` are required;
# a service without them is disabled (schema mismatch) instead of read as "no match".
SIMBAD_COLUMNS = ("main_id", "ra", "dec", "otype", "rvz_redshift", "galdim_majaxis")
SIMBAD_REQUIRED = ("main_id", "ra", "dec", "otype")
# astroquery switches to a TAP upload above 300 centres; we stay below it.
SIMBAD_MAX_BATCH = 100
SIMBAD_HARD_LIMIT = 2_000_000
SIMBAD_UPLOAD_LIMIT = 200_000


def _make_astroquery_simbad(
    tap_url: str, timeout: float, on_response: Callable[[Any], None] | None
) -> Any:
    from astroquery.simbad import SimbadClass
    from pyvo.dal import TAPService

    class _Simbad(SimbadClass):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            # The output columns are set directly (as copies of astroquery's own column
            # records) rather than with add_votable_fields(), which first downloads the
            # list of options: a network call at construction.
            template = self.columns_in_output[0]
            self.columns_in_output = [
                dataclasses.replace(template, table="basic", name=name) for name in SIMBAD_COLUMNS
            ]
            harden_session(self._session, timeout, on_response)

        @property
        def tap(self) -> Any:
            if self._tap is None:
                self._tap = TAPService(baseurl=tap_url, session=self._session)
            return self._tap

        @property
        def hardlimit(self) -> int:
            return SIMBAD_HARD_LIMIT

        @property
        def uploadlimit(self) -> int:
            return SIMBAD_UPLOAD_LIMIT

        def query_tap(
            self,
            query: str,
            *,
            maxrec: int = 10000,
            async_job: bool = False,
            get_query_payload: bool = False,
            **uploads: Any,
        ) -> Any:
            if get_query_payload or uploads or async_job:
                return super().query_tap(
                    query,
                    maxrec=maxrec,
                    async_job=async_job,
                    get_query_payload=get_query_payload,
                    **uploads,
                )
            return self.tap.search(query, maxrec=maxrec).to_table()

    return _Simbad()


def _sky_coord(positions: Sequence[SkyPosition]) -> Any:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    if len(positions) == 1:
        p = positions[0]
        return SkyCoord(p.ra_deg * u.deg, p.dec_deg * u.deg, frame="icrs")
    return SkyCoord(
        [p.ra_deg for p in positions] * u.deg, [p.dec_deg for p in positions] * u.deg, frame="icrs"
    )


class SimbadClient(CatalogClient):
    service = SIMBAD.service
    catalog = None
    max_batch = SIMBAD_MAX_BATCH

    def __init__(
        self,
        tap_url: str = SIMBAD.url,
        *,
        timeout: float = SIMBAD.timeout_s,
        on_response: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__()
        self.tap_url = tap_url
        self._simbad = _make_astroquery_simbad(tap_url, timeout, on_response)

    def build_query(self, positions: Sequence[SkyPosition], radius_arcsec: float) -> str:
        """The ADQL astroquery would send (pure: no network)."""
        import astropy.units as u

        payload = self._simbad.query_region(
            _sky_coord(positions), radius=radius_arcsec * u.arcsec, get_query_payload=True
        )
        return str(payload["QUERY"])

    def _fetch(self, positions: Sequence[SkyPosition], radius_arcsec: float) -> Any:
        import astropy.units as u

        return self._simbad.query_region(_sky_coord(positions), radius=radius_arcsec * u.arcsec)

    def _parse(
        self, raw: Any, positions: Sequence[SkyPosition], radius_arcsec: float
    ) -> list[CrossMatch]:
        return parse_simbad_table(raw, positions, radius_arcsec)

    def _check_schema(self) -> None:
        columns = self._simbad.list_columns("basic")
        require_columns([str(c) for c in columns["column_name"]], SIMBAD_COLUMNS, "SIMBAD basic")


def parse_simbad_table(
    table: Any, positions: Sequence[SkyPosition], radius_arcsec: float
) -> list[CrossMatch]:
    """Rows of a (possibly multi-cone) result, assigned back to each position by distance.

    A batched query returns one table for all cones without saying which cone a row came
    from, so each position takes the rows within its radius.
    """
    require_columns(list(table.colnames), SIMBAD_REQUIRED, "SIMBAD result")
    rows = []
    for row in table:
        ra, dec = cell(row, "ra"), cell(row, "dec")
        if ra is None or dec is None:
            continue
        rows.append(
            CatalogRow(
                name=str(cell(row, "main_id") or "?"),
                object_type=cell(row, "otype"),
                position=SkyPosition(float(ra), float(dec)),
                redshift=as_float(cell(row, "rvz_redshift")),
            )
        )
    return cone_matches(SIMBAD.service, rows, positions, radius_arcsec)
