"""Target catalogs (an RA/Dec table) as batch input: cutouts fetched through the polite source.

The cutouts are fetched here, by the one client process, through the Legacy Survey source and
its rate-limited transport: spread over N workers the same fetches would hit the service N
times as fast as its polite limit allows. Fetching is the slow part of such a batch anyway
(about one cutout per second by default); scoring then runs on the cluster. Each cutout is
written once (atomically) to `<output>/cutouts/`, named by its row in the catalog, so a rerun
fetches only what is missing. A cutout that cannot be fetched becomes an item carrying the
reason, which the worker writes as an error row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from astrolens.app.batch.plan import WorkItem
from astrolens.domain.cursors import InMemoryCursorStore
from astrolens.domain.errors import ConfigurationError
from astrolens.domain.sky import SkyPosition
from astrolens.domain.sources import FetchTask

if TYPE_CHECKING:
    from astrolens.app.context import AstroLensApp
    from astrolens.sources.legacy_survey import LegacySurveyConfig

CUTOUTS_DIR = "cutouts"


def read_catalog(path: Path) -> tuple[SkyPosition, ...]:
    from astrolens.sources.legacy_survey import read_targets_csv

    try:
        return read_targets_csv(path)
    except (ValueError, KeyError) as exc:
        raise ConfigurationError(f"target catalog {path}: {exc}") from exc


def legacy_config(app: AstroLensApp, targets: Sequence[SkyPosition]) -> LegacySurveyConfig:
    """The user's Legacy Survey settings (rate, cutout size, layer) with these targets."""
    from astrolens.domain.settings import SourceSettings
    from astrolens.services.source_factory import build_source

    settings = app.settings.sources.get("legacy-survey", SourceSettings())
    from astrolens.sources.legacy_survey import LegacySurveySource

    source = build_source("legacy-survey", settings, app.paths, InMemoryCursorStore())
    assert isinstance(source, LegacySurveySource)  # what build_source makes of this id
    return dataclasses.replace(source.config, enabled=True, targets=tuple(targets))


async def _fetch_all(
    config: LegacySurveyConfig,
    folder: Path,
    cache_dir: Path | None,
    on_progress: Callable[[int, int], None],
) -> list[WorkItem]:
    from astrolens.sources.legacy_survey import LegacySurveySource

    source = LegacySurveySource(config, cursors=InMemoryCursorStore(), cache_dir=cache_dir)
    items: list[WorkItem] = []
    try:
        tasks = await source.plan(len(config.targets))
        done = 0

        async def one(index: int, task: FetchTask) -> WorkItem:
            nonlocal done
            sky = task.sky
            assert sky is not None  # a target's task carries its position
            target = folder / f"target-{index:07d}.{config.image_format}"
            item = WorkItem(str(target), sky.ra_deg, sky.dec_deg)
            if not target.exists():
                try:
                    raw = await source.fetch(task)
                    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                    tmp.write_bytes(raw.data)
                    os.replace(tmp, target)
                except Exception as exc:  # the catalog row stays, as an error row
                    item = dataclasses.replace(item, error=f"cutout fetch failed: {exc}")
            done += 1
            on_progress(done, len(tasks))
            return item

        # The transport's rate limiter and concurrency cap pace these; gather only queues.
        items = list(await asyncio.gather(*(one(i, t) for i, t in enumerate(tasks))))
    finally:
        await source.aclose()
    return items


def fetch_target_cutouts(
    app: AstroLensApp,
    catalog: Path,
    output: Path,
    config: LegacySurveyConfig | None = None,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> list[WorkItem]:
    """One item per catalog row, in catalog order (`config` overrides the settings' source)."""
    targets = read_catalog(catalog)
    if not targets:
        raise ConfigurationError(f"target catalog {catalog} has no rows")
    folder = output / CUTOUTS_DIR / catalog.stem
    folder.mkdir(parents=True, exist_ok=True)
    cfg = (
        dataclasses.replace(config, targets=targets)
        if config is not None
        else legacy_config(app, targets)
    )
    return asyncio.run(_fetch_all(cfg, folder, app.paths.http_cache_dir, on_progress))
