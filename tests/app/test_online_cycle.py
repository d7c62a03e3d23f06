"""A full pipeline cycle over all four online sources, served by local fake services in the
real formats: the results land in the store with their provenance."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from astrolens.app.context import AppOptions, AstroLensApp
from astrolens.pipeline.discovery import PipelineConfig
from astrolens.sources.apod import ApodSource
from astrolens.sources.legacy_survey import LegacySurveySource
from astrolens.sources.sdss import SdssSource
from astrolens.sources.ztf import ZtfSource
from tests.sources.fake_services import FakeServices, fake_services, online_configs

__all__ = ["fake_services"]  # the fixture, re-exported for pytest


async def test_one_cycle_over_the_four_online_sources(
    fake_services: FakeServices, isolated_home: Path
) -> None:
    app = AstroLensApp(options=AppOptions(crossmatch=False))
    try:
        configs = online_configs(fake_services)
        cursors = app.cursor_store
        cache = app.paths.http_cache_dir
        sources = [
            SdssSource(configs["sdss"], cursors=cursors, cache_dir=cache / "sdss"),
            LegacySurveySource(
                configs["legacy-survey"], cursors=cursors, cache_dir=cache / "legacy"
            ),
            ZtfSource(configs["ztf"], cursors=cursors, cache_dir=cache / "ztf"),
            ApodSource(configs["apod"], cursors=cursors, cache_dir=cache / "apod"),
        ]
        pipeline = app.pipeline(
            sources, config=PipelineConfig(tasks_per_source=4, crossmatch=False)
        )
        report = await pipeline.run_cycle()
        await pipeline.stop()
    finally:
        app.close()

    assert report.quarantined == 0 and report.unavailable == 0
    with sqlite3.connect(isolated_home / "data" / "astrolens.sqlite3") as conn:
        rows = conn.execute(
            "SELECT source_id, uri, ra_deg, dec_deg, pixel_scale_arcsec, survey, image_group "
            "FROM images WHERE parent_uri IS NULL"
        ).fetchall()
        scored = conn.execute("SELECT count(DISTINCT image_id) FROM scores").fetchone()[0]
    by_source: dict[str, list[tuple]] = {}
    for row in rows:
        by_source.setdefault(row[0], []).append(row)
    assert set(by_source) == {"sdss", "legacy-survey", "ztf", "apod"}
    for source_id, found in by_source.items():
        for _, uri, ra, dec, scale, survey, group in found:
            assert uri.startswith(fake_services.base_url), uri
            if source_id == "apod":
                assert group == "picture"  # judged only against pictures
            else:
                assert ra is not None and dec is not None and scale and survey, (source_id, uri)
    assert scored == report.ingested
