"""Pure request builders and parsers, on real response formats."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.sky import SkyPosition
from astrolens.sources.apod import parse_apod_json
from astrolens.sources.footprints import (
    LEGACY_DR10_BOXES,
    SDSS_BOXES,
    footprint_position,
    galactic_latitude,
)
from astrolens.sources.http import Expect, check_body
from astrolens.sources.sdss import SdssConfig, cutout_request, galaxy_sql, parse_sql_csv
from astrolens.sources.ztf import (
    ZtfConfig,
    parse_alert_packets,
    parse_ipac_table,
    science_image_path,
    triplet_raw_image,
)


def test_sdss_parses_a_recorded_skyserver_csv(shared_data: Path) -> None:
    text = (shared_data / "catalog-responses/sdss/tests/data/xid_im.txt").read_text()
    rows = parse_sql_csv(text)
    assert rows[0] == ("1237653651835781245", SkyPosition(2.02344282607, 14.8398204075))
    with pytest.raises(UnreadableImageError):
        parse_sql_csv("#Table1\nerror\nSyntax error near 'FROM'\n")


def test_sdss_requests() -> None:
    cfg = SdssConfig(data_release="dr17", cutout_px=512)
    url, params = cutout_request(cfg, SkyPosition(180.5, -1.25))
    assert url == "https://skyserver.sdss.org/dr17/SkyServerWS/ImgCutout/getjpeg"
    assert params == {
        "ra": "180.500000",
        "dec": "-1.250000",
        "scale": "0.396",
        "width": "512",
        "height": "512",
    }
    wrapped = galaxy_sql(cfg, SkyPosition(0.01, 0.0))
    assert "(ra >= 359.92667 OR ra <= 0.09333)" in wrapped and "ORDER BY objID" in wrapped
    with pytest.raises(ValueError):
        SdssConfig(cutout_px=4096)


def test_ipac_table_round_trips_astropys_writer() -> None:
    from astropy.table import MaskedColumn, Table

    table = Table()
    table["field"] = [655, 1700]
    table["filtercode"] = ["zr", "zg"]
    table["filefracday"] = ["20200924431759", "20210101123456"]
    table["maglimit"] = MaskedColumn([20.5, 0.0], mask=[False, True])
    out = io.StringIO()
    table.write(out, format="ascii.ipac")
    rows = parse_ipac_table("\\fixlen = T\n\\ a comment\n" + out.getvalue())
    assert rows == [
        {"field": "655", "filtercode": "zr", "filefracday": "20200924431759", "maglimit": "20.5"},
        {"field": "1700", "filtercode": "zg", "filefracday": "20210101123456", "maglimit": ""},
    ]


def test_ztf_science_image_path_matches_irsa_layout() -> None:
    row = {
        "filefracday": "20200924431759",
        "field": "655",
        "filtercode": "zr",
        "ccdid": "13",
        "imgtypecode": "o",
        "qid": "3",
    }
    assert science_image_path(row) == (
        "ibe/data/ztf/products/sci/2020/0924/431759/"
        "ztf_20200924431759_000655_zr_c13_o_q3_sciimg.fits"
    )
    assert ZtfConfig().base_url == "https://irsa.ipac.caltech.edu"


def test_real_alert_packets_become_one_transient_observation(shared_data: Path) -> None:
    folder = shared_data / "ztf/ztf-avro-alert"
    (triplet,) = parse_alert_packets((folder / "472263571115090000.avro").read_bytes())
    assert triplet.object_id == "ZTF18aaxjlwy" and triplet.band == "zr"
    raw = triplet_raw_image(triplet, "https://example.org/a.avro")
    assert raw.data.startswith(b"SIMPLE  =")  # gunzipped FITS
    assert set(raw.companions) == {"template", "difference"}
    assert all(v.startswith(b"SIMPLE  =") for v in raw.companions.values())
    assert raw.group.value == "transient"
    assert raw.provenance.sky == SkyPosition(180.2620725, 51.9584306)
    assert raw.provenance.uri.endswith("#candid=472263571115090000")
    # The 2016 prototypes carry JPEG stamps.
    (proto,) = parse_alert_packets((folder / "1726958725155000.avro").read_bytes())
    assert proto.stamps["science"][0].endswith(".jpg")
    with pytest.raises(UnreadableImageError):
        parse_alert_packets(b"Obj\x01 not really avro")


def test_apod_json_single_and_range() -> None:
    single = '{"date":"2024-03-09","media_type":"image","title":"M1","url":"https://a/b.jpg"}'
    (entry,) = parse_apod_json(single)
    assert entry.title == "M1" and entry.url == "https://a/b.jpg"
    many = (
        '[{"date":"2024-03-10","media_type":"video","url":"https://y"},'
        '{"date":"2024-03-09","media_type":"image","url":"https://x"}]'
    )
    assert [e.media_type for e in parse_apod_json(many)] == ["image", "video"]
    with pytest.raises(UnreadableImageError):
        parse_apod_json('{"error": {"code": "OVER_RATE_LIMIT"}}')


def test_content_checks() -> None:
    check_body(b"\xff\xd8\xff\xe0rest", "image/jpeg", Expect.IMAGE, "u")
    check_body(b"SIMPLE  =                    T", "application/fits", Expect.IMAGE, "u")
    with pytest.raises(UnreadableImageError, match="HTML page"):
        check_body(b"<!DOCTYPE html><html>", "image/jpeg", Expect.IMAGE, "u")
    with pytest.raises(UnreadableImageError, match="HTML page"):
        check_body(b"<html>error</html>", "text/html", Expect.TEXT, "u")
    with pytest.raises(UnreadableImageError):
        check_body(b"", "image/jpeg", Expect.IMAGE, "u")


def test_footprint_sequences_are_deterministic_and_inside() -> None:
    a = [footprint_position(SDSS_BOXES, i, survey="sdss") for i in range(50)]
    assert a == [footprint_position(SDSS_BOXES, i, survey="sdss") for i in range(50)]
    assert len(set(a)) == 50
    for pos in a:
        in_ngc = 135 <= pos.ra_deg <= 230 and 5 <= pos.dec_deg <= 55
        in_s82 = (pos.ra_deg >= 310 or pos.ra_deg <= 55) and abs(pos.dec_deg) <= 1.2
        assert in_ngc or in_s82
    for i in range(50):
        pos = footprint_position(LEGACY_DR10_BOXES, i, survey="ls", min_abs_b=20)
        assert abs(galactic_latitude(pos)) >= 20 and pos.dec_deg <= 30
    assert galactic_latitude(SkyPosition(192.85948, 27.12825)) == pytest.approx(90.0)
