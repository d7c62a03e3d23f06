"""Links to the catalog services' own pages for a sky position."""

from __future__ import annotations

from urllib.parse import urlencode

from astrolens.domain.sky import SkyPosition

SIMBAD_COO = "https://simbad.cds.unistra.fr/simbad/sim-coo"
NED_CONE = "https://ned.ipac.caltech.edu/conesearch"


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
    ra_h = position.ra_deg / 15.0
    h = int(ra_h)
    m = int((ra_h - h) * 60)
    s = ((ra_h - h) * 60 - m) * 60
    sign = "-" if position.dec_deg < 0 else "+"
    d_abs = abs(position.dec_deg)
    d = int(d_abs)
    dm = int((d_abs - d) * 60)
    ds = ((d_abs - d) * 60 - dm) * 60
    return f"{h:02d}h {m:02d}m {s:04.1f}s, {sign}{d:02d}° {dm:02d}′ {ds:04.1f}″"
