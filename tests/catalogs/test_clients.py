"""Each client against the local replay server: real astroquery, real HTTP, three outcomes."""

from __future__ import annotations

import pytest

from astrolens.catalogs.ned import NedClient
from astrolens.catalogs.simbad import SimbadClient
from astrolens.catalogs.vizier import VizierCatalog, VizierClient
from astrolens.domain.crossmatch import MatchStatus
from astrolens.domain.sky import SkyPosition

M1 = SkyPosition(83.6287, 22.0147)
M51 = SkyPosition(202.4696, 47.1952)
ORION = SkyPosition(83.822083, -5.391111)
AFGL2591 = SkyPosition(307.353875, 40.188583)
EMPTY_SKY = SkyPosition(10.0, -30.0)
IRAM = VizierCatalog("B/iram/pdbi", "IRAM PdBI", ("Name",))


def make(service, services, timeout=2.0):
    if service == "simbad":
        return SimbadClient(services.simbad_url, timeout=timeout)
    if service == "ned":
        return NedClient(services.ned_url, timeout=timeout)
    return VizierClient(IRAM, services.vizier_url, timeout=timeout)


def target(service):
    return {"simbad": M1, "ned": ORION, "vizier": AFGL2591}[service]


def test_simbad_match_has_name_type_separation_and_redshift(services):
    client = SimbadClient(services.simbad_url)
    (m51,) = client.query([M51], 10.0)
    assert m51.status is MatchStatus.MATCH
    obj = m51.objects[0]
    assert (obj.name, obj.object_type, obj.redshift) == ("M 51", "Sy2", 0.00155)
    assert obj.separation_arcsec < 1.0
    assert "CONTAINS(POINT('ICRS', basic.ra, basic.dec)" in services.hits_for("simbad")[0].body


def test_simbad_batch_is_one_request_and_rows_go_to_their_cone(services):
    client = SimbadClient(services.simbad_url)
    results = client.query([M1, M51, EMPTY_SKY], 10.0)
    assert [r.status for r in results] == [
        MatchStatus.MATCH,
        MatchStatus.MATCH,
        MatchStatus.NO_MATCH,
    ]
    assert results[0].objects[0].name == "M 1"
    assert [o.name for o in results[1].objects] == ["M 51"]
    assert len(services.hits_for("simbad")) == 1


def test_ned_match_from_recorded_near_position_answer(services):
    (result,) = NedClient(services.ned_url).query([ORION], 30.0)
    assert result.status is MatchStatus.MATCH
    assert all(o.separation_arcsec <= 30.0 for o in result.objects)
    assert result.objects[0].separation_arcsec <= result.objects[-1].separation_arcsec
    assert result.objects[0].object_type  # NED's "Type" column


def test_ned_no_object_found_is_no_match(services):
    (result,) = NedClient(services.ned_url).query([EMPTY_SKY], 30.0)
    assert result.status is MatchStatus.NO_MATCH


def test_vizier_asks_for_every_row_and_matches_recorded_answer(services):
    client = VizierClient(IRAM, services.vizier_url)
    assert "-out.max=unlimited" in client.build_request([AFGL2591], 5.0)
    (result,) = client.query([AFGL2591], 5.0)
    assert result.status is MatchStatus.MATCH
    assert result.catalog == "B/iram/pdbi"
    assert result.objects[0].name == "AFGL2591"
    assert "-out.max=unlimited" in services.hits_for("vizier")[0].body


def test_vizier_defaults_to_sdss_dr12():
    client = VizierClient()
    assert client.catalog == "V/147"
    assert "-source=V/147" in client.build_request([M51], 5.0)


@pytest.mark.parametrize("service", ["simbad", "ned", "vizier"])
@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ("delay", MatchStatus.ERROR, "timeout"),
        ("500", MatchStatus.ERROR, "HTTP 500"),
        ("blacklist", MatchStatus.ERROR, "blacklisted"),
        ("empty", MatchStatus.NO_MATCH, ""),
        ("error_votable", MatchStatus.ERROR, "votable error"),
        ("renamed", MatchStatus.ERROR, "schema mismatch"),
    ],
)
def test_each_fault_ends_in_its_state(services, service, fault, status, reason):
    services.faults[service] = fault
    services.delay = 2.0
    client = make(service, services, timeout=0.5)
    (result,) = client.query([target(service)], 30.0)
    assert result.status is status, result.reason
    assert reason in result.reason
    assert result.checked_at is not None


def test_connection_refused_is_an_error_not_a_no_match():
    client = SimbadClient("http://127.0.0.1:9/simbad/sim-tap", timeout=1.0)
    (result,) = client.query([M51], 10.0)
    assert result.status is MatchStatus.ERROR
    assert result.reason
