"""The four sources against the fake services: plan, fetch, provenance, cursor, quotas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from astrolens.domain.errors import SourceUnavailableError
from astrolens.domain.images import ImageGroup
from astrolens.domain.ports import ImageSource
from astrolens.domain.sources import SourceState
from astrolens.sources import registry
from astrolens.sources.apod import DEMO_KEY, ApodConfig, ApodSource
from astrolens.sources.ztf import ZtfConfig, ZtfSource
from tests.sources.fake_clock import FakeClock, MemoryCursors
from tests.sources.fake_services import FakeServices, online_configs


def build(source_id: str, services: FakeServices, **kwargs: object) -> ImageSource:
    config = online_configs(services)[source_id]
    return registry.create(source_id, config=config, **kwargs)


@pytest.mark.parametrize(
    ("source_id", "survey", "bands", "scale", "group"),
    [
        ("sdss", "SDSS DR18", "gri", 0.396, ImageGroup.SURVEY),
        ("legacy-survey", "Legacy Surveys ls-dr10", "grz", 0.262, ImageGroup.SURVEY),
        ("ztf", "ZTF", None, 1.012, ImageGroup.SURVEY),
        ("apod", "APOD", None, None, ImageGroup.PICTURE),
    ],
)
async def test_each_source_fetches_with_provenance(
    fake_services: FakeServices,
    tmp_path: Path,
    source_id: str,
    survey: str,
    bands: str | None,
    scale: float | None,
    group: ImageGroup,
) -> None:
    source = build(source_id, fake_services, cursors=MemoryCursors(), cache_dir=tmp_path)
    assert isinstance(source, ImageSource)
    tasks = await source.plan(4)
    assert len(tasks) == 4 and len({t.uri for t in tasks}) == 4
    for task in tasks:
        raw = await source.fetch(task)
        await source.mark_done(task)
        prov = raw.provenance
        assert prov.source_id == source_id and prov.uri == task.uri
        assert prov.uri.startswith(fake_services.base_url)
        assert prov.survey == survey and raw.group is group
        assert prov.pixel_scale_arcsec == scale
        if bands:
            assert prov.bands == bands
        if group is ImageGroup.SURVEY:
            assert prov.sky is not None and prov.sky == task.sky
        assert raw.data[:3] in (b"\xff\xd8\xff", b"SIM")
    status = source.status()
    assert status.state is SourceState.IDLE and status.fetched == 4
    await source.aclose()


async def test_ztf_cutouts_are_the_newest_exposures(fake_services: FakeServices) -> None:
    source = build("ztf", fake_services)
    tasks = await source.plan(3)
    assert [t.meta["obsjd"] for t in tasks] == sorted(
        (t.meta["obsjd"] for t in tasks), reverse=True
    )
    assert all("_sciimg.fits?center=" in t.uri and "gzip=false" in t.uri for t in tasks)
    assert all(t.sky == tasks[0].sky for t in tasks)  # three epochs of one position
    searches = fake_services.requests_to("/ibe/search/ztf/products/sci")
    assert len(searches) == 1
    await source.aclose()


async def test_ztf_alert_packets_are_triplets(fake_services: FakeServices) -> None:
    urls = tuple(
        f"{fake_services.base_url}/alerts/{n}.avro"
        for n in ("472263571115090000", "2019_01_10_739260766315010006")
    )
    source = ZtfSource(ZtfConfig(base_url=fake_services.base_url, alert_urls=urls))
    assert source.group is ImageGroup.TRANSIENT
    tasks = await source.plan(10)
    assert [t.uri for t in tasks] == list(urls)
    raw = await source.fetch(tasks[1])
    assert raw.group is ImageGroup.TRANSIENT and set(raw.companions) == {"template", "difference"}
    assert raw.provenance.extra["object_id"] == "ZTF17aaacxxf"
    assert await source.plan(10) == []
    await source.aclose()


async def test_cursor_resumes_at_the_first_unfinished_task(fake_services: FakeServices) -> None:
    cursors = MemoryCursors()
    first = build("sdss", fake_services, cursors=cursors)
    tasks = await first.plan(5)  # fields of 3 galaxies: crosses into a second field
    for i in (0, 2, 3):  # out of order; task 1 never finished (the app crashed)
        await first.mark_done(tasks[i])
    assert cursors.values["sdss"] == tasks[1].cursor
    await first.aclose()

    second = build("sdss", fake_services, cursors=cursors)
    again = await second.plan(5)
    # Nothing unfinished is skipped; 2 and 3 come back but the pipeline skips stored URIs.
    assert [t.uri for t in again[:4]] == [t.uri for t in tasks[1:5]]
    for task in again:
        await second.mark_done(task)
    after = build("sdss", fake_services, cursors=cursors)
    fresh = await after.plan(2)
    assert not {t.uri for t in fresh} & {t.uri for t in tasks + again}
    for s in (second, after):
        await s.aclose()


async def test_apod_skips_videos_and_catches_up(fake_services: FakeServices) -> None:
    clock = FakeClock(datetime(2024, 3, 10, 17, 0, tzinfo=UTC))
    fake_services.apod_today = clock.now().date()
    cfg = ApodConfig(
        base_url=fake_services.base_url,
        start_date=clock.now().date() - timedelta(days=9),
        max_requests=50,
    )
    source = ApodSource(cfg, clock=clock, cursors=MemoryCursors())
    tasks = await source.plan(100)
    days = [t.meta["date"] for t in tasks]
    assert days == [f"2024-03-{d:02d}" for d in (1, 2, 3, 4, 6, 7, 8, 9)]  # 5th, 10th: videos
    assert source.api_calls == 1  # ten days in one request of the quota
    assert await source.plan(10) == [] and source.status().message == "up to date"
    (call,) = fake_services.requests_to("/planetary/apod")
    assert call.query["api_key"] == [DEMO_KEY]
    await source.aclose()


async def test_apod_demo_key_quota_is_enforced(fake_services: FakeServices) -> None:
    clock = FakeClock(datetime(2024, 3, 10, 17, 0, tzinfo=UTC))
    fake_services.apod_today = clock.now().date()
    cfg = ApodConfig(
        base_url=fake_services.base_url,
        start_date=clock.now().date() - timedelta(days=200),
        days_per_call=1,
        max_requests=50,
    )
    source = ApodSource(cfg, clock=clock)
    await source.plan(1000)
    calls = fake_services.requests_to("/planetary/apod")
    # 30 in the first hour, then the source waits (fake time) rather than asking again.
    assert len(calls) == 30
    status = source.status()
    assert status.state is SourceState.UNAVAILABLE and status.retry_at is not None
    assert status.retry_at >= clock.now() + timedelta(minutes=59)
    await source.aclose()


async def test_apod_uses_the_personal_key(fake_services: FakeServices) -> None:
    cfg = online_configs(fake_services)["apod"]
    source = ApodSource(cfg, api_key=lambda: "my-key")
    await source.plan(1)
    assert fake_services.requests_to("/planetary/apod")[0].query["api_key"] == ["my-key"]
    await source.aclose()


async def test_offline_source_reports_offline(tmp_path: Path) -> None:
    from astrolens.sources.sdss import SdssConfig, SdssSource

    source = SdssSource(SdssConfig(base_url="http://127.0.0.1:9", use_sql=False))
    (task,) = await source.plan(1)
    with pytest.raises(SourceUnavailableError):
        await source.fetch(task)
    assert source.status().state is SourceState.OFFLINE
    assert source.status().failed == 1
    await source.aclose()


def test_disabled_source_says_so() -> None:
    from astrolens.sources.legacy_survey import LegacySurveyConfig, LegacySurveySource

    source = LegacySurveySource(LegacySurveyConfig(enabled=False))
    assert source.status().state is SourceState.DISABLED
