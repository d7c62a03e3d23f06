from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from astrolens.domain.sky import SkyPosition
from astrolens.ui.links import (
    SKY_VIEWERS,
    aladin_lite_url,
    esasky_url,
    format_sexagesimal,
    legacy_survey_url,
    ned_url,
    sdss_navigate_url,
    simbad_url,
)


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


POS = SkyPosition(202.469575, -47.195258)


def _parts(url: str) -> tuple[str, str, dict[str, list[str]]]:
    parsed = urlparse(url)
    assert parsed.scheme == "https"
    return parsed.netloc, parsed.path, parse_qs(parsed.query)


def test_legacy_survey_viewer_centres_and_marks_the_position() -> None:
    # https://www.legacysurvey.org/viewer?ra=..&dec=..&layer=ls-dr10&zoom=16&mark=ra,dec
    host, path, q = _parts(legacy_survey_url(POS))
    assert (host, path) == ("www.legacysurvey.org", "/viewer")
    assert q["ra"] == ["202.469575"] and q["dec"] == ["-47.195258"]
    assert q["layer"] == ["ls-dr10"] and q["zoom"] == ["16"]
    assert q["mark"] == ["202.469575,-47.195258"]


def test_aladin_lite_targets_coordinates_with_a_fov_in_degrees() -> None:
    # https://aladin.cds.unistra.fr/AladinLite/?target=<ra> <dec>&fov=<deg>&survey=<HiPS id>
    url = aladin_lite_url(POS, fov_deg=0.1)
    host, path, q = _parts(url)
    assert (host, path) == ("aladin.cds.unistra.fr", "/AladinLite/")
    assert q["target"] == ["202.469575 -47.195258"] and q["fov"] == ["0.1"]
    assert q["survey"] == ["CDS/P/DSS2/color"]
    assert "target=202.469575%20-47.195258" in url  # a space, not a '+' the resolver keeps


def test_esasky_targets_coordinates_in_science_mode() -> None:
    # https://sky.esa.int/esasky/?target=<ra>%20<dec>&fov=<deg>&cooframe=J2000&sci=true
    url = esasky_url(SkyPosition(10.68470, 41.26875))
    host, path, q = _parts(url)
    assert (host, path) == ("sky.esa.int", "/esasky/")
    assert q["target"] == ["10.684700 +41.268750"]
    assert "target=10.684700%20%2B41.268750" in url
    assert q["cooframe"] == ["J2000"] and q["sci"] == ["true"] and float(q["fov"][0]) > 0


def test_sdss_navigate_takes_degrees_and_a_scale() -> None:
    # https://skyserver.sdss.org/dr18/VisualTools/navi?ra=..&dec=..&scale=..
    host, path, q = _parts(sdss_navigate_url(SkyPosition(146.47818, 41.73088)))
    assert (host, path) == ("skyserver.sdss.org", "/dr18/VisualTools/navi")
    assert q["ra"] == ["146.478180"] and q["dec"] == ["41.730880"] and q["scale"] == ["0.2"]


def test_every_viewer_is_offered_and_wraps_ra() -> None:
    names = [name for name, _ in SKY_VIEWERS]
    assert names == [
        "Legacy Survey viewer",
        "Aladin Lite",
        "ESASky",
        "SDSS Navigate",
        "SIMBAD",
        "NED",
    ]
    wrapped = SkyPosition(360.0 + 1.5, 0.0)  # SkyPosition wraps RA into [0, 360)
    for _, build in SKY_VIEWERS:
        assert "1.500000" in build(wrapped)


def test_sexagesimal_rounds_into_the_next_minute() -> None:
    # +2.15° is 2° 09′ 00″, not "2° 08′ 60.0″"; 150.15° is 10h 00m 36.0s
    assert format_sexagesimal(SkyPosition(150.15, 2.15)) == "10h 00m 36.0s, +02° 09′ 00.0″"
    assert format_sexagesimal(SkyPosition(359.99999, -0.5)) == "00h 00m 00.0s, -00° 30′ 00.0″"
