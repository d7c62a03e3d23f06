"""Build sources from the user's settings: the one place that maps settings onto configs."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from astrolens.domain.cursors import CursorStore
from astrolens.domain.ports import ImageSource
from astrolens.domain.settings import SourceSettings
from astrolens.settings.paths import AppPaths
from astrolens.settings.secrets import get_secret

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from astrolens.sources.folder import FolderSource

Config = TypeVar("Config", bound="DataclassInstance")


def _config_with(config: Config, settings: SourceSettings, *, release_field: str | None) -> Config:
    changes: dict[str, object] = {}
    fields = {f.name for f in dataclasses.fields(config)}
    if settings.rate_per_s and "max_requests" in fields:
        # A rate below 1/s is expressed as one request per longer period.
        if settings.rate_per_s >= 1:
            changes.update(max_requests=int(settings.rate_per_s), period_s=1.0)
        else:
            changes.update(max_requests=1, period_s=1.0 / settings.rate_per_s)
    if settings.cutout_px and "cutout_px" in fields:
        changes["cutout_px"] = settings.cutout_px
    if settings.release and release_field and release_field in fields:
        changes[release_field] = settings.release
    if settings.base_url and "base_url" in fields:
        changes["base_url"] = settings.base_url.rstrip("/")
    return dataclasses.replace(config, **changes) if changes else config


def build_source(
    source_id: str, settings: SourceSettings, paths: AppPaths, cursors: CursorStore
) -> ImageSource:
    cache = paths.http_cache_dir  # each source keeps its own subfolder under it
    if source_id == "sample-sky":
        from astrolens.sources.sample_sky import SampleSkySource

        return SampleSkySource(cursor_store=cursors)
    if source_id == "sdss":
        from astrolens.sources.sdss import SdssConfig, SdssSource

        return SdssSource(
            _config_with(SdssConfig(), settings, release_field="data_release"),
            cursors=cursors,
            cache_dir=cache,
        )
    if source_id == "legacy-survey":
        from astrolens.sources.legacy_survey import LegacySurveyConfig, LegacySurveySource

        return LegacySurveySource(
            _config_with(LegacySurveyConfig(), settings, release_field="layer"),
            cursors=cursors,
            cache_dir=cache,
        )
    if source_id == "ztf":
        from astrolens.sources.ztf import ZtfConfig, ZtfSource

        return ZtfSource(
            _config_with(ZtfConfig(), settings, release_field=None),
            cursors=cursors,
            cache_dir=cache,
        )
    if source_id == "apod":
        from astrolens.sources.apod import ApodConfig, ApodSource

        return ApodSource(
            _config_with(ApodConfig(), settings, release_field=None),
            api_key=lambda: get_secret("nasa_api_key").value,
            cursors=cursors,
            cache_dir=cache,
        )
    raise KeyError(f"unknown source {source_id!r}")


def build_folder_source(
    folders: list[Path],
    cursors: CursorStore,
    name: str | None = None,
    known_uris: Callable[[Sequence[str], Mapping[str, str | None]], Awaitable[set[str]]]
    | None = None,
) -> FolderSource:
    from astrolens.sources.folder import FolderSource

    return FolderSource(
        folders, recursive=True, cursor_store=cursors, name=name, known_uris=known_uris
    )
