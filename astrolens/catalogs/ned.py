"""NED through `astroquery.ipac.ned` (one cone per request: NED has no batch cone search).

NED reports failures *inside* valid VOTables (a PARAM named "Error"); astroquery raises
`RemoteServiceError` for those. One of them is not a failure: "No object found." is how NED
says the cone is empty (astroquery keeps it an exception on purpose, issue astropy/astroquery#662),
so that message, and only that one, becomes NO_MATCH.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from astrolens.catalogs.base import (
    CatalogClient,
    CatalogRow,
    as_float,
    cell,
    cone_matches,
    outcome,
    pick_column,
    require_columns,
)
from astrolens.catalogs.failures import VOTableError
from astrolens.catalogs.http_session import harden_session
from astrolens.domain.catalog_conf import NED
from astrolens.domain.crossmatch import CrossMatch
from astrolens.domain.sky import SkyPosition

NED_REQUIRED = ("Object Name", "Type")
# NED's position columns were "RA(deg)"/"DEC(deg)" and are "RA"/"DEC" since its 2023 update.
NED_RA = ("RA", "RA(deg)")
NED_DEC = ("DEC", "DEC(deg)")
_NO_OBJECT = re.compile(r"no objects? found", re.IGNORECASE)
# Where the start-up schema check asks (the Orion Nebula: NED always has objects there).
SCHEMA_PROBE = SkyPosition(83.822083, -5.391111)


class NedEmpty:
    """NED's 'No object found.' answer: a service that answered, with nothing inside."""


def _make_astroquery_ned(
    base_url: str, timeout: float, on_response: Callable[[Any], None] | None
) -> Any:
    from astroquery.ipac.ned.core import NedClass

    search_url = base_url.rstrip("/") + "/objsearch"

    class _Ned(NedClass):  # type: ignore[misc, valid-type]
        """astroquery reads NED's URL and timeout from its module-level `Ned` instance, so
        setting them per client needs this override; the payload still comes from astroquery."""

        def __init__(self) -> None:
            super().__init__()
            harden_session(self._session, timeout, on_response)

        def query_region_async(
            self,
            coordinates: Any,
            *,
            radius: Any = None,
            equinox: str = "J2000.0",
            get_query_payload: bool = False,
        ) -> Any:
            payload = super().query_region_async(
                coordinates, radius=radius, equinox=equinox, get_query_payload=True
            )
            if get_query_payload:
                return payload
            return self._request(
                "GET", url=search_url, params=payload, timeout=timeout, cache=False
            )

    return _Ned()


class NedClient(CatalogClient):
    service = NED.service
    catalog = None
    max_batch = 1

    def __init__(
        self,
        base_url: str = NED.url,
        *,
        timeout: float = NED.timeout_s,
        on_response: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__()
        self.base_url = base_url
        self._ned = _make_astroquery_ned(base_url, timeout, on_response)

    def build_request(self, position: SkyPosition, radius_arcsec: float) -> dict[str, Any]:
        import astropy.units as u
        from astropy.coordinates import SkyCoord

        coord = SkyCoord(position.ra_deg * u.deg, position.dec_deg * u.deg, frame="icrs")
        return dict(
            self._ned.query_region(coord, radius=radius_arcsec * u.arcsec, get_query_payload=True)
        )

    def _fetch(self, positions: Sequence[SkyPosition], radius_arcsec: float) -> Any:
        import astropy.units as u
        from astropy.coordinates import SkyCoord
        from astroquery.exceptions import RemoteServiceError

        (position,) = positions
        coord = SkyCoord(position.ra_deg * u.deg, position.dec_deg * u.deg, frame="icrs")
        try:
            return self._ned.query_region(coord, radius=radius_arcsec * u.arcsec)
        except RemoteServiceError as exc:
            if _NO_OBJECT.search(str(exc)):
                return NedEmpty()
            message = str(exc).split("ERROR:", 1)[-1].strip() or "NED returned an error"
            raise VOTableError(message) from exc

    def _parse(
        self, raw: Any, positions: Sequence[SkyPosition], radius_arcsec: float
    ) -> list[CrossMatch]:
        return [parse_ned_table(raw, positions[0], radius_arcsec)]

    def _check_schema(self) -> None:
        import astropy.units as u
        from astropy.coordinates import SkyCoord

        coord = SkyCoord(SCHEMA_PROBE.ra_deg * u.deg, SCHEMA_PROBE.dec_deg * u.deg, frame="icrs")
        table = self._ned.query_region(coord, radius=60 * u.arcsec)
        _ned_columns(list(table.colnames))


def parse_ned_table(table: Any, position: SkyPosition, radius_arcsec: float) -> CrossMatch:
    if isinstance(table, NedEmpty):
        return outcome(NED.service, radius_arcsec, [])
    ra_col, dec_col = _ned_columns(list(table.colnames))
    rows = []
    for row in table:
        ra, dec = cell(row, ra_col), cell(row, dec_col)
        if ra is None or dec is None:
            continue
        rows.append(
            CatalogRow(
                name=str(cell(row, "Object Name") or "?"),
                object_type=cell(row, "Type"),
                position=SkyPosition(float(ra), float(dec)),
                redshift=as_float(cell(row, "Redshift")),
            )
        )
    return cone_matches(NED.service, rows, [position], radius_arcsec)[0]


def _ned_columns(columns: list[str]) -> tuple[str, str]:
    require_columns(columns, NED_REQUIRED, "NED result")
    return pick_column(columns, NED_RA, "NED result"), pick_column(columns, NED_DEC, "NED result")
