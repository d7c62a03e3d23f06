from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from astrolens.domain.sky import SkyPosition
from astrolens.ui.links import format_sexagesimal, ned_url, simbad_url


def test_simbad_url_is_a_coordinate_query_in_arcsec() -> None:
    url = urlparse(simbad_url(SkyPosition(150.1, -2.5), 7.5))
    q = parse_qs(url.query)
    assert url.netloc == "simbad.cds.unistra.fr" and url.path == "/simbad/sim-coo"
    assert q["Coord"] == ["150.100000 -2.500000"]
    assert q["Radius"] == ["7.5"] and q["Radius.unit"] == ["arcsec"]


def test_ned_url_is_a_cone_search_in_arcmin() -> None:
    url = urlparse(ned_url(SkyPosition(10.0, 20.0), 30.0))
    q = parse_qs(url.query)
    assert url.netloc == "ned.ipac.caltech.edu" and url.path == "/conesearch"
    assert q["radius"] == ["0.5000"] and q["coordinates"] == ["10.000000d +20.000000d"]


def test_sexagesimal() -> None:
    assert format_sexagesimal(SkyPosition(1.046625, 2.156667)).startswith("00h 04m 11.2s, +02° 09′")
