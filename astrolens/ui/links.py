"""Links to the catalog services' and sky viewers' own pages for a sky position.

Each builder follows the URL form the service documents and links to itself (checked in
tests/ui/test_links.py): positions in ICRS decimal degrees, a field of view that shows a
galaxy cutout's worth of sky, and the position marked where the viewer can mark it.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

from astrolens.domain.sky import SkyPosition

SIMBAD_COO = "https://simbad.cds.unistra.fr/simbad/sim-coo"
NED_CONE = "https://ned.ipac.caltech.edu/conesearch"
LEGACY_VIEWER = "https://www.legacysurvey.org/viewer"
ALADIN_LITE = "https://aladin.cds.unistra.fr/AladinLite/"
ESASKY = "https://sky.esa.int/esasky/"
SDSS_NAVI = "https://skyserver.sdss.org/dr18/VisualTools/navi"
DEFAULT_FOV_DEG = 0.05  # 3 arcmin: a galaxy and its neighbours


def _degrees(position: SkyPosition) -> tuple[str, str]:
    return f"{position.ra_deg:.6f}", f"{position.dec_deg:.6f}"


def _target(position: SkyPosition) -> str:
    # "ra +dec" in degrees: the form Aladin's and ESASky's resolvers read as coordinates
    # (the explicit sign keeps "10 -5" from looking like a range or a name).
    return f"{position.ra_deg:.6f} {position.dec_deg:+.6f}"


def legacy_survey_url(position: SkyPosition, layer: str = "ls-dr10", zoom: int = 16) -> str:
    ra, dec = _degrees(position)
    query = {"ra": ra, "dec": dec, "layer": layer, "zoom": str(zoom), "mark": f"{ra},{dec}"}
    return f"{LEGACY_VIEWER}?{urlencode(query)}"


def aladin_lite_url(
    position: SkyPosition, fov_deg: float = DEFAULT_FOV_DEG, survey: str = "CDS/P/DSS2/color"
) -> str:
    query = {"target": _target(position), "fov": f"{fov_deg:g}", "survey": survey}
    return f"{ALADIN_LITE}?{urlencode(query, quote_via=quote)}"


def esasky_url(position: SkyPosition, fov_deg: float = DEFAULT_FOV_DEG) -> str:
    query = {
        "target": _target(position),
        "fov": f"{fov_deg:g}",
        "cooframe": "J2000",
        "sci": "true",
    }
    return f"{ESASKY}?{urlencode(query, quote_via=quote)}"


def sdss_navigate_url(position: SkyPosition, scale_arcsec: float = 0.2) -> str:
    # `scale` is arcsec per displayed pixel; 0.2 shows about 1.7 arcmin across.
    ra, dec = _degrees(position)
    return f"{SDSS_NAVI}?{urlencode({'ra': ra, 'dec': dec, 'scale': f'{scale_arcsec:g}'})}"


def simbad_url(position: SkyPosition, radius_arcsec: float = 10.0) -> str:
    query = {
        "Coord": f"{position.ra_deg:.6f} {position.dec_deg:+.6f}",
        "CooFrame": "ICRS",
        "Radius": f"{radius_arcsec:g}",
        "Radius.unit": "arcsec",
        "submit": "submit query",
    }
    return f"{SIMBAD_COO}?{urlencode(query)}"


def ned_url(position: SkyPosition, radius_arcsec: float = 10.0) -> str:
    # NED's cone search takes the radius in arcminutes.
    query = {
        "search_type": "Near Position Search",
        "coordinates": f"{position.ra_deg:.6f}d {position.dec_deg:+.6f}d",
        "radius": f"{radius_arcsec / 60.0:.4f}",
        "in_csys": "Equatorial",
        "in_equinox": "J2000",
    }
    return f"{NED_CONE}?{urlencode(query)}"


def format_sexagesimal(position: SkyPosition) -> str:
    """'RA 10h 12m 03.4s, Dec +12° 03′ 04″' as a user reads it in papers."""
    # Round once, in tenths of the smallest unit, then split: rounding each field on its own
    # printed "+02° 08′ 60.0″" for +2.15°.
    ra_tenths = round(position.ra_deg / 15.0 * 36_000) % (24 * 36_000)
    h, rest = divmod(ra_tenths, 36_000)
    m, tenths = divmod(rest, 600)
    sign = "-" if position.dec_deg < 0 else "+"
    dec_tenths = round(abs(position.dec_deg) * 36_000)
    d, rest = divmod(dec_tenths, 36_000)
    dm, dtenths = divmod(rest, 600)
    return f"{h:02d}h {m:02d}m {tenths / 10:04.1f}s, {sign}{d:02d}° {dm:02d}′ {dtenths / 10:04.1f}″"


# The sky viewers and catalogs, in the order menus list them.
SKY_VIEWERS: tuple[tuple[str, Callable[[SkyPosition], str]], ...] = (
    ("Legacy Survey viewer", legacy_survey_url),
    ("Aladin Lite", aladin_lite_url),
    ("ESASky", esasky_url),
    ("SDSS Navigate", sdss_navigate_url),
    ("SIMBAD", simbad_url),
    ("NED", ned_url),
)
