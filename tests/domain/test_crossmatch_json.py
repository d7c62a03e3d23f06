"""One JSON shape for a cross-match answer: what goes in comes back out."""

import json
from datetime import UTC, datetime

from astrolens.domain.crossmatch import (
    CatalogObject,
    CrossMatch,
    MatchStatus,
    catalog_object_from_json,
    catalog_object_to_json,
    crossmatch_from_json,
    crossmatch_to_json,
)
from astrolens.domain.sky import SkyPosition

MATCH = CrossMatch(
    service="vizier",
    status=MatchStatus.MATCH,
    radius_arcsec=12.5,
    objects=(
        CatalogObject("A", "G", SkyPosition(10.5, -3.25), 1.5, 0.02, "vizier"),
        CatalogObject("B", None, None, 7.0),
    ),
    checked_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    catalog="V/147",
)


def test_an_answer_round_trips_through_json_text():
    for match in (
        MATCH,
        CrossMatch("ned", MatchStatus.NO_MATCH, 10.0),
        CrossMatch("simbad", MatchStatus.ERROR, 10.0, reason="timeout: 30 s"),
    ):
        assert crossmatch_from_json(json.loads(json.dumps(crossmatch_to_json(match)))) == match


def test_positions_are_stored_in_degrees_under_one_name():
    data = catalog_object_to_json(MATCH.objects[0])
    assert (data["ra_deg"], data["dec_deg"]) == (10.5, -3.25)
    assert catalog_object_from_json(data) == MATCH.objects[0]


def test_the_catalog_caches_older_ra_dec_names_are_read():
    old = {"name": "A", "object_type": "G", "ra": 10.5, "dec": -3.25, "separation_arcsec": 1.5}
    assert catalog_object_from_json(old).position == SkyPosition(10.5, -3.25)
