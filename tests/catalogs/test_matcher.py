"""The orchestrator: rate limits seen by the server, batching, cache, schema, verdicts."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from astrolens.catalogs.cache import CrossMatchCache
from astrolens.catalogs.matcher import CatalogCrossMatcher
from astrolens.catalogs.ned import NedClient
from astrolens.catalogs.openngc import OpenNGCCatalog
from astrolens.catalogs.simbad import SimbadClient
from astrolens.catalogs.vizier import VizierCatalog, VizierClient
from astrolens.domain.crossmatch import CatalogVerdict, MatchStatus, catalog_verdict
from astrolens.domain.sky import SkyPosition

M51 = SkyPosition(202.4696, 47.1952)
EMPTY_SKY = SkyPosition(10.0, -30.0)


def max_in_any_window(times: list[float], period: float = 1.0) -> int:
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        j = i
        while j < len(times) and times[j] < start + period:
            j += 1
        best = max(best, j - i)
    return best


async def test_fifty_candidates_never_exceed_five_simbad_requests_per_second(services):
    positions = [SkyPosition(10.0 + i * 0.01, -30.0) for i in range(50)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        matcher = CatalogCrossMatcher([SimbadClient(services.simbad_url)], pool)
        # Fifty independent candidates at once, as the pipeline's workers would send them.
        results = await asyncio.gather(*(matcher.crossmatch(p, 5.0) for p in positions))
    assert all(r[0].status is MatchStatus.NO_MATCH for r in results)
    times = [h.at for h in services.hits_for("simbad")]
    assert len(times) == 50
    assert max_in_any_window(times) <= 5


async def test_positions_arriving_together_go_to_simbad_in_one_request(services):
    positions = [SkyPosition(10.0 + i * 0.01, -30.0) for i in range(49)] + [M51]
    with ThreadPoolExecutor(max_workers=4) as pool:
        matcher = CatalogCrossMatcher([SimbadClient(services.simbad_url)], pool)
        results = await matcher.crossmatch_many(positions, 5.0)
    assert len(services.hits_for("simbad")) == 1
    assert results[-1][0].status is MatchStatus.MATCH
    assert {r[0].status for r in results[:-1]} == {MatchStatus.NO_MATCH}


async def test_answers_are_cached_but_errors_are_not(services, tmp_path):
    cache = CrossMatchCache(tmp_path / "cache.sqlite")
    with ThreadPoolExecutor(max_workers=2) as pool:
        matcher = CatalogCrossMatcher([SimbadClient(services.simbad_url)], pool, cache=cache)
        first = await matcher.crossmatch(M51, 10.0)
        again = await matcher.crossmatch(M51, 10.0)
        assert len(services.hits_for("simbad")) == 1
        assert again[0].objects[0].name == first[0].objects[0].name

        services.faults["simbad"] = "500"
        failed = await matcher.crossmatch(EMPTY_SKY, 10.0)
        assert failed[0].status is MatchStatus.ERROR
        services.faults.clear()
        recovered = await matcher.crossmatch(EMPTY_SKY, 10.0)
    assert recovered[0].status is MatchStatus.NO_MATCH
    assert len(services.hits_for("simbad")) == 3


def test_cache_entries_expire(tmp_path):
    now = [1000.0]
    cache = CrossMatchCache(tmp_path / "c.sqlite", ttl_seconds=60, clock=lambda: now[0])
    (answer,) = OpenNGCCatalog().query([M51], 10.0)
    assert cache.put(M51, answer)
    assert cache.get("openngc", M51, 10.0, "OpenNGC") == answer
    assert cache.get("openngc", M51, 11.0, "OpenNGC") is None  # radius is part of the key
    now[0] += 61
    assert cache.get("openngc", M51, 10.0, "OpenNGC") is None


async def test_schema_check_disables_a_changed_catalog_loudly(services, caplog):
    services.faults["vizier"] = "renamed"
    iram = VizierCatalog("B/iram/pdbi", "IRAM", ("Name",))
    clients = [
        SimbadClient(services.simbad_url),
        NedClient(services.ned_url),
        VizierClient(iram, services.vizier_url),
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        matcher = CatalogCrossMatcher(clients, pool)
        states = await matcher.check_schemas()
        assert [(s.service, s.enabled, s.checked) for s in states] == [
            ("simbad", True, True),
            ("ned", True, True),
            ("vizier", False, True),
        ]
        assert "schema mismatch" in states[2].reason
        assert "disabled" in caplog.text
        before = len(services.hits_for("vizier"))
        results = await matcher.crossmatch(SkyPosition(307.353875, 40.188583), 5.0)
    vizier = results[2]
    assert vizier.status is MatchStatus.ERROR and "disabled" in vizier.reason
    assert len(services.hits_for("vizier")) == before  # a disabled catalog is not asked


async def test_simbad_schema_check_reads_the_recorded_tap_metadata(services):
    client = SimbadClient(services.simbad_url)
    state = client.check_schema()
    assert state.enabled and state.checked
    assert "TAP_SCHEMA" in services.hits_for("simbad")[0].body


async def test_unreachable_service_at_start_up_is_not_disabled():
    client = SimbadClient("http://127.0.0.1:9/simbad/sim-tap", timeout=1.0)
    state = client.check_schema()
    assert state.enabled and not state.checked and state.reason


async def test_one_failing_service_makes_the_verdict_incomplete_not_a_discovery(services):
    services.faults["ned"] = "blacklist"
    clients = [OpenNGCCatalog(), SimbadClient(services.simbad_url), NedClient(services.ned_url)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        matcher = CatalogCrossMatcher(clients, pool)
        results = await matcher.crossmatch(EMPTY_SKY, 10.0)
    assert [r.status for r in results] == [
        MatchStatus.NO_MATCH,
        MatchStatus.NO_MATCH,
        MatchStatus.ERROR,
    ]
    assert catalog_verdict(results) is CatalogVerdict.INCOMPLETE
    services.faults.clear()
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = await CatalogCrossMatcher(clients, pool).crossmatch(EMPTY_SKY, 10.0)
    assert catalog_verdict(results) is CatalogVerdict.POSSIBLE_DISCOVERY


async def test_crossmatch_does_not_block_the_event_loop(services):
    services.faults["simbad"] = "delay"
    services.delay = 1.0
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    with ThreadPoolExecutor(max_workers=2) as pool:
        matcher = CatalogCrossMatcher([SimbadClient(services.simbad_url, timeout=5.0)], pool)
        task = asyncio.create_task(ticker())
        await matcher.crossmatch(M51, 10.0)
        task.cancel()
    assert ticks >= 10
