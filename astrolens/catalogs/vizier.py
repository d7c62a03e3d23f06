"""VizieR through `astroquery.vizier`, one client per catalog (SDSS DR12 `V/147` by default).

- `row_limit=-1` always: VizieR silently truncates at 50 rows otherwise.
- The answer is read with astropy's VOTable parser here, not astroquery's: astroquery turns
  a VOTable that carries an error INFO into an empty TableList, which reads as "no match".
- The service URL comes from the constructor (`server_url`; default the real VizieR).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from astrolens.catalogs.base import (
    CatalogClient,
    CatalogRow,
    as_float,
    cell,
    cone_matches,
    pick_column,
)
from astrolens.catalogs.failures import NotAVOTableError, VOTableError
from astrolens.catalogs.http_session import harden_session
from astrolens.domain.catalog_conf import VIZIER
from astrolens.domain.crossmatch import CrossMatch
from astrolens.domain.sky import SkyPosition

# Positions VizieR computes for every catalog (J2000 degrees), with the catalogs' own
# ICRS columns as a fallback.
RA_COLUMNS = ("_RAJ2000", "RA_ICRS", "RAICRS", "ra")
DEC_COLUMNS = ("_DEJ2000", "DE_ICRS", "DEICRS", "dec")


@dataclass(frozen=True, slots=True)
class VizierCatalog:
    """How to read one VizieR catalog: which columns name, classify and date an object."""

    id: str
    label: str
    name_columns: tuple[str, ...] = ()
    type_column: str | None = None
    type_labels: dict[str, str] = field(default_factory=dict)
    redshift_columns: tuple[str, ...] = ()


# SDSS `class`: 3 = galaxy, 6 = star (SDSS photoobj type codes).
SDSS_DR12 = VizierCatalog(
    "V/147", "SDSS DR12", ("SDSS12", "objID"), "class", {"3": "G", "6": "*"}, ("zsp", "zph")
)
GAIA_DR3 = VizierCatalog("I/355/gaiadr3", "Gaia DR3", ("DR3Name", "Source"))
KNOWN_CATALOGS = {c.id: c for c in (SDSS_DR12, GAIA_DR3)}


def _make_astroquery_vizier(
    catalog: str, server_url: str, timeout: float, on_response: Callable[[Any], None] | None
) -> Any:
    from astroquery.vizier import VizierClass

    class _Vizier(VizierClass):  # type: ignore[misc, valid-type]
        def _server_to_url(self, return_type: str = "votable") -> str:
            return f"{server_url.rstrip('/')}/viz-bin/{return_type}"

    vizier = _Vizier(
        catalog=catalog, columns=["*", "_RAJ2000", "_DEJ2000"], row_limit=-1, timeout=timeout
    )
    harden_session(vizier._session, timeout, on_response)
    return vizier


def _coords(positions: Sequence[SkyPosition]) -> Any:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    ras = [p.ra_deg for p in positions]
    decs = [p.dec_deg for p in positions]
    if len(positions) == 1:
        return SkyCoord(ras[0] * u.deg, decs[0] * u.deg, frame="icrs")
    return SkyCoord(ras * u.deg, decs * u.deg, frame="icrs")


class VizierClient(CatalogClient):
    service = VIZIER.service
    max_batch = 50

    def __init__(
        self,
        catalog: VizierCatalog | str = SDSS_DR12,
        server_url: str = VIZIER.url,
        *,
        timeout: float = VIZIER.timeout_s,
        on_response: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(catalog, str):
            catalog = KNOWN_CATALOGS.get(catalog, VizierCatalog(catalog, catalog))
        self.spec = catalog
        self.catalog = catalog.id
        self.server_url = server_url
        self._vizier = _make_astroquery_vizier(catalog.id, server_url, timeout, on_response)

    def build_request(self, positions: Sequence[SkyPosition], radius_arcsec: float) -> str:
        """The POST body astroquery would send (pure: no network)."""
        import astropy.units as u

        return str(
            self._vizier.query_region(
                _coords(positions), radius=radius_arcsec * u.arcsec, get_query_payload=True
            )
        )

    def _fetch(self, positions: Sequence[SkyPosition], radius_arcsec: float) -> Any:
        import astropy.units as u

        response = self._vizier.query_region_async(
            _coords(positions), radius=radius_arcsec * u.arcsec, cache=False
        )
        return response.content

    def _parse(
        self, raw: Any, positions: Sequence[SkyPosition], radius_arcsec: float
    ) -> list[CrossMatch]:
        return parse_vizier_votable(raw, self.spec, positions, radius_arcsec)

    def _check_schema(self) -> None:
        # A one-row sample of the catalog: its columns, without a cone.
        import astropy.units as u

        probe = SkyPosition(180.0, 0.0)
        response = self._vizier.query_region_async(
            _coords([probe]), radius=1 * u.arcsec, cache=False
        )
        tables = read_vizier_tables(response.content)
        for table in tables:
            _columns_for(table, self.spec)


def read_vizier_tables(content: bytes) -> list[Any]:
    """All tables of a VizieR VOTable answer; raise for HTML and for error INFOs."""
    import warnings

    from astropy.io import votable
    from astropy.io.votable.exceptions import VOWarning

    head = content.lstrip()[:100].lower()
    if not head.startswith(b"<?xml") and b"<votable" not in head:
        raise NotAVOTableError(f"VizieR answered with {content[:60]!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VOWarning)
        try:
            vot = votable.parse(io.BytesIO(content), verify="ignore")
        except Exception as exc:
            raise NotAVOTableError(f"unparseable VOTable: {exc}") from exc
    _raise_for_error_infos(vot)
    tables = []
    for resource in vot.iter_resources() if hasattr(vot, "iter_resources") else vot.resources:
        for table in resource.tables:
            tables.append(table.to_table(use_names_over_ids=True))
    return tables


def _raise_for_error_infos(vot: Any) -> None:
    infos = list(vot.infos)
    for resource in vot.resources:
        infos.extend(resource.infos)
        for table in resource.tables:
            infos.extend(getattr(table, "infos", []))
    for info in infos:
        name = (info.name or info.ID or "").strip()
        value = (info.value or "").strip()
        content = " ".join((info.content or "").split())
        if name.lower() == "error" or (name == "QUERY_STATUS" and value.upper() == "ERROR"):
            raise VOTableError(content or value or "VizieR reported an error")


def _columns_for(table: Any, spec: VizierCatalog) -> tuple[str, str]:
    names = list(table.colnames)
    return (
        pick_column(names, RA_COLUMNS, f"VizieR {spec.id}"),
        pick_column(names, DEC_COLUMNS, f"VizieR {spec.id}"),
    )


def parse_vizier_votable(
    content: bytes, spec: VizierCatalog, positions: Sequence[SkyPosition], radius_arcsec: float
) -> list[CrossMatch]:
    rows: list[CatalogRow] = []
    for table in read_vizier_tables(content):
        ra_col, dec_col = _columns_for(table, spec)
        name_col = next((c for c in spec.name_columns if c in table.colnames), None)
        z_cols = [c for c in spec.redshift_columns if c in table.colnames]
        for row in table:
            ra, dec = cell(row, ra_col), cell(row, dec_col)
            if ra is None or dec is None:
                continue
            where = SkyPosition(float(ra), float(dec))
            name = cell(row, name_col) if name_col else None
            raw_type = cell(row, spec.type_column) if spec.type_column else None
            otype = spec.type_labels.get(str(raw_type), str(raw_type)) if raw_type else None
            z = next((cell(row, c) for c in z_cols if cell(row, c) is not None), None)
            rows.append(
                CatalogRow(
                    name=str(name) if name is not None else f"{spec.label} {where}",
                    object_type=otype,
                    position=where,
                    redshift=as_float(z),
                )
            )
    return cone_matches(VIZIER.service, rows, positions, radius_arcsec, catalog=spec.id)
