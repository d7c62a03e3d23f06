"""The catalog cache stores answers in the store's JSON shape and still reads its old one."""

import json
import sqlite3

from astrolens.catalogs.cache import CrossMatchCache, cache_key
from astrolens.domain.crossmatch import MatchStatus, crossmatch_from_json, crossmatch_to_json
from astrolens.domain.sky import SkyPosition

M51 = SkyPosition(202.4696, 47.1952)

# A body as the cache wrote it before the one shape (positions under "ra"/"dec").
OLD_BODY = {
    "service": "simbad",
    "status": "match",
    "radius_arcsec": 10.0,
    "reason": "",
    "checked_at": "2026-03-01T12:00:00+00:00",
    "catalog": None,
    "objects": [
        {
            "name": "M  51",
            "object_type": "Sy2",
            "ra": 202.4696,
            "dec": 47.1952,
            "separation_arcsec": 0.4,
            "redshift": 0.0016,
            "service": "simbad",
        },
        {
            "name": "[XYZ] 1",
            "object_type": None,
            "ra": None,
            "dec": None,
            "separation_arcsec": 3.0,
            "redshift": None,
            "service": "simbad",
        },
    ],
}


def test_an_answer_cached_in_the_old_shape_is_still_read(tmp_path):
    cache = CrossMatchCache(tmp_path / "c.sqlite", clock=lambda: 1000.0)
    cache.close()
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:
        conn.execute(
            "INSERT INTO answers (key, stored, body) VALUES (?, ?, ?)",
            (cache_key("simbad", M51, 10.0, None), 999.0, json.dumps(OLD_BODY)),
        )
    answer = CrossMatchCache(tmp_path / "c.sqlite", clock=lambda: 1000.0).get(
        "simbad", M51, 10.0, None
    )
    assert answer is not None and answer.status is MatchStatus.MATCH
    first, second = answer.objects
    assert first.position == M51 and first.redshift == 0.0016 and first.name == "M  51"
    assert second.position is None and second.separation_arcsec == 3.0


def test_new_answers_are_cached_in_the_stores_shape(tmp_path):
    cache = CrossMatchCache(tmp_path / "c.sqlite", clock=lambda: 1000.0)
    match = crossmatch_from_json(OLD_BODY)
    assert cache.put(M51, match)
    (body,) = cache._conn.execute("SELECT body FROM answers").fetchone()
    stored = json.loads(body)
    assert stored == crossmatch_to_json(match)
    assert stored["objects"][0]["ra_deg"] == M51.ra_deg and "ra" not in stored["objects"][0]
    assert cache.get("simbad", M51, 10.0, None) == match
