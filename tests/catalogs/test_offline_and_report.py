"""OpenNGC with no network, summary and text rendering."""

from __future__ import annotations

from astrolens.catalogs.openngc import OpenNGCCatalog
from astrolens.catalogs.report import lookup, render_text, summarise
from astrolens.domain.crossmatch import CatalogVerdict, CrossMatch, MatchStatus, catalog_verdict
from astrolens.domain.sky import SkyPosition

M51 = SkyPosition(202.4696, 47.1952)


def test_m51_is_a_known_object_with_no_network():
    results = lookup(M51, 10.0, offline=True)
    assert [r.service for r in results] == ["openngc"]
    assert catalog_verdict(results) is CatalogVerdict.KNOWN_OBJECT
    assert results[0].objects[0].name.startswith("M51 (NGC5194)")


def test_a_knot_in_m51s_disc_is_m51_but_empty_sky_is_not_known():
    catalog = OpenNGCCatalog()
    arm, empty = catalog.query([SkyPosition(202.50, 47.22), SkyPosition(10.0, -30.0)], 5.0)
    assert "M51 (NGC5194), Whirlpool Galaxy" in [o.name for o in arm.objects]
    assert empty.status is MatchStatus.NO_MATCH


def test_summary_counts_by_outcome_and_service():
    known = [CrossMatch("openngc", MatchStatus.MATCH, 10.0, lookup(M51, 10.0, True)[0].objects)]
    failed = [
        CrossMatch("openngc", MatchStatus.NO_MATCH, 10.0),
        CrossMatch("simbad", MatchStatus.ERROR, 10.0, reason="http error: HTTP 500"),
    ]
    summary = summarise([known, failed])
    assert summary["candidates"] == 2
    assert summary["verdicts"] == {"known_object": 1, "incomplete": 1}
    assert summary["by_service"] == {
        "openngc": {"match": 1, "no_match": 1},
        "simbad": {"error": 1},
    }


def test_render_text_says_what_each_catalog_said():
    results = [
        *lookup(M51, 10.0, offline=True),
        CrossMatch("simbad", MatchStatus.ERROR, 10.0, reason="blacklisted: page"),
    ]
    text = render_text(M51, results)
    assert "known object" in text
    assert "M51 (NGC5194)" in text
    assert "simbad: ERROR: blacklisted: page" in text
