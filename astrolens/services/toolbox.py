"""The astronomer's toolbox, wired to the app: export, SAMP, fresh cutouts, target lists.

`ToolboxService` implements the domain's `ToolboxController` for the window: every blocking
step (reading the store, writing a table, SAMP's XML-RPC, decoding an image) runs on the
app's named executors, and what other tools send over SAMP reaches listeners on the loop.
The module-level functions are what the CLI commands call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from astrolens.domain.candidates import Candidate
from astrolens.domain.errors import ConfigurationError
from astrolens.domain.ports import CandidateStore
from astrolens.domain.records import CandidateFilter as StoreFilter
from astrolens.domain.sky import SkyPosition
from astrolens.domain.sources import FetchTask
from astrolens.domain.toolbox import ExportFormat, ExportReport, SampEvent, SampStatus
from astrolens.pipeline.executors import run_in
from astrolens.services.context import ServiceContext

if TYPE_CHECKING:
    from astrolens.sources.legacy_survey import LegacySurveyConfig, LegacySurveySource
    from astrolens.sources.sdss import SdssConfig, SdssSource
    from astrolens.sources.target_list import TargetList, TargetListSource

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

CUTOUT_SURVEYS = ("legacy-survey", "sdss")


def load_candidates(app: ServiceContext, ids: Sequence[int]) -> list[Candidate]:
    """The candidates with these ids, in that order (unknown ids are left out). db thread."""

    def read(repo: CandidateStore) -> list[Candidate]:
        found = [repo.get_candidate(i) for i in ids]
        return [c for c in found if c is not None]

    return app.db(read)


def query_candidates(app: ServiceContext, flt: StoreFilter, limit: int) -> list[Candidate]:
    return app.db(lambda repo: repo.query_candidates(flt, limit, 0))


# -- fresh cutouts ---------------------------------------------------------------------------


def survey_config(
    survey: str, app: ServiceContext, *, base_url: str | None = None, fits: bool = False
) -> LegacySurveyConfig | SdssConfig:
    """The survey's source config from the user's settings (rate, cutout size, release);
    `base_url` points it at a mirror, `fits` asks Legacy Survey for the grz cube."""
    import dataclasses

    from astrolens.domain.settings import SourceSettings
    from astrolens.services.source_factory import _config_with
    from astrolens.sources.legacy_survey import LegacySurveyConfig
    from astrolens.sources.sdss import SdssConfig

    if survey not in CUTOUT_SURVEYS:
        raise ConfigurationError(f"survey must be one of {', '.join(CUTOUT_SURVEYS)}")
    settings = app.settings.sources.get(survey) or SourceSettings()
    if survey == "legacy-survey":
        cfg: LegacySurveyConfig | SdssConfig = _config_with(
            LegacySurveyConfig(), settings, release_field="layer"
        )
    else:
        cfg = _config_with(SdssConfig(), settings, release_field="data_release")
    changes: dict[str, Any] = {"enabled": True}
    if base_url:
        changes["base_url"] = base_url
    if fits and survey == "legacy-survey":
        changes["image_format"] = "fits"  # the calibrated grz cube: bands to compare
    return dataclasses.replace(cfg, **changes)


def survey_source(
    survey: str, app: ServiceContext, config: LegacySurveyConfig | SdssConfig
) -> LegacySurveySource | SdssSource:
    """The survey's own source: its polite transport, rate limit and HTTP cache."""
    from astrolens.sources.legacy_survey import LegacySurveyConfig, LegacySurveySource
    from astrolens.sources.sdss import SdssSource

    # survey_config(survey) made `config`: Legacy Survey's exactly for "legacy-survey".
    if isinstance(config, LegacySurveyConfig):
        return LegacySurveySource(config, cache_dir=app.paths.http_cache_dir)
    return SdssSource(config, cache_dir=app.paths.http_cache_dir)


async def fetch_cutout(
    app: ServiceContext,
    cand: Candidate,
    survey: str,
    *,
    out: Path | None = None,
    base_url: str | None = None,
    fits: bool = False,
) -> Path:
    """A fresh cutout at the candidate's position, through the survey's polite source."""
    from astrolens.interop.export import write_atomically

    position = cand.image.provenance.sky
    if position is None:
        raise ConfigurationError(f"candidate #{cand.id} has no sky position (its file has no WCS)")
    source = survey_source(survey, app, survey_config(survey, app, base_url=base_url, fits=fits))
    try:
        url, params = _cutout_request(source, position)
        from astrolens.sources.http import PoliteTransport

        task = FetchTask(source.id, PoliteTransport.build_url(url, params), "cutout", position)
        raw = await source.fetch(task)
    finally:
        await source.aclose()
    suffix = Path(raw.name).suffix or ".jpg"
    target = out or app.paths.data_dir / "cutouts" / f"{cand.id}-{survey}{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)

    def write(temp: Path) -> None:
        temp.write_bytes(raw.data)

    await run_in(app.executors.io, write_atomically, target, write)
    return target


def _cutout_request(
    source: LegacySurveySource | SdssSource, position: SkyPosition
) -> tuple[str, dict[str, str]]:
    from astrolens.sources import legacy_survey, sdss

    if isinstance(source, legacy_survey.LegacySurveySource):
        return legacy_survey.cutout_request(source.config, position)
    return sdss.cutout_request(source.config, position)


# -- the window's controller -----------------------------------------------------------------


class ToolboxService:
    """`ToolboxController` over the app (see astrolens/domain/toolbox.py)."""

    def __init__(self, app: ServiceContext, *, mirrors: Mapping[str, str] | None = None) -> None:
        from astrolens.interop.samp import SampLink

        self.app = app
        self.mirrors = dict(mirrors or {})  # survey id -> base URL of a mirror
        # The loop that listeners live on; known from the first await (nothing arrives over
        # SAMP before a connect, which is awaited), so the window may be built before it runs.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[SampEvent], None]] = []
        self.samp = SampLink(app.paths.cache_dir / "samp", self._from_samp_thread)

    # -- events from other tools (astropy's receiver thread -> the loop)

    def _from_samp_thread(self, event: SampEvent) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._emit, event)

    def _emit(self, event: SampEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("SAMP listener failed")

    def on_samp_event(self, listener: Callable[[SampEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- helpers

    async def _io(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        self._loop = asyncio.get_running_loop()
        return await run_in(self.app.executors.io, fn, *args, **kwargs)

    async def _candidates(self, ids: Sequence[int]) -> list[Candidate]:
        def read() -> list[Candidate]:
            found = [self.app.repository.get_candidate(i) for i in ids]
            return [c for c in found if c is not None]

        return await run_in(self.app.executors.db, read)

    async def _one(self, candidate_id: int) -> Candidate:
        found = await self._candidates([candidate_id])
        if not found:
            raise ConfigurationError(f"no candidate with id {candidate_id}")
        return found[0]

    # -- export

    async def export(
        self, candidates: Sequence[Candidate], fmt: ExportFormat, path: Path
    ) -> ExportReport:
        from astrolens.interop.export import export_candidates

        report: ExportReport = await self._io(export_candidates, list(candidates), fmt, path)
        return report

    # -- SAMP

    async def samp_status(self) -> SampStatus:
        from astrolens.interop.samp import SampUnavailableError

        try:
            status: SampStatus = await self._io(self.samp.connect)
        except SampUnavailableError as exc:
            return SampStatus(False, str(exc))
        return status

    async def samp_start_hub(self) -> SampStatus:
        status: SampStatus = await self._io(self.samp.start_hub)
        return status

    async def samp_send_table(self, candidates: Sequence[Candidate]) -> str:
        message: str = await self._io(self.samp.send_table, list(candidates))
        return message

    async def samp_point_at(self, candidate_id: int) -> str:
        cand = await self._one(candidate_id)
        position = cand.image.provenance.sky
        if position is None:
            return f"#{candidate_id} has no sky position to point at"
        message: str = await self._io(self.samp.point_at, position)
        return message

    async def samp_send_image(self, candidate_id: int) -> str:
        from astrolens.interop.fits_image import write_candidate_fits

        cand = await self._one(candidate_id)
        out = self.samp.image_file(f"candidate-{cand.id}")
        with_wcs = await self._io(write_candidate_fits, cand, out)
        message: str = await self._io(self.samp.send_image, out, f"AstroLens #{cand.id}")
        return message + ("" if with_wcs else " (no WCS: the image is not placed on the sky)")

    # -- cutouts

    async def fetch_cutout(self, candidate_id: int, survey: str) -> Path:
        cand = await self._one(candidate_id)
        return await fetch_cutout(self.app, cand, survey, base_url=self.mirrors.get(survey))

    async def close(self) -> None:
        await self._io(self.samp.close)


# -- target lists -----------------------------------------------------------------------------


def target_list_source(
    app: ServiceContext,
    targets: TargetList,
    survey: str,
    *,
    base_url: str | None = None,
) -> TargetListSource:
    """A user's target list as a source pulling cutouts from `survey` (resumable cursor)."""
    from astrolens.sources.legacy_survey import LegacySurveyConfig
    from astrolens.sources.target_list import TargetListConfig, TargetListSource

    cfg = survey_config(survey, app, base_url=base_url)  # Legacy Survey's for "legacy-survey"
    if isinstance(cfg, LegacySurveyConfig):
        config = TargetListConfig(targets=targets, survey=survey, legacy=cfg)
    else:
        config = TargetListConfig(targets=targets, survey=survey, sdss=cfg)
    return TargetListSource(config, cursors=app.cursor_store, cache_dir=app.paths.http_cache_dir)
