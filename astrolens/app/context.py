"""The composition root: builds every adapter once, wires them into the pipeline, owns them.

Heavy libraries (torch, FAISS, astroquery, open_clip) are imported inside the builders, so
nothing pays for them until it is used: the tray icon shows before torch loads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from astrolens.domain.events import Event
from astrolens.domain.ports import (
    BlobStore,
    CrossMatcher,
    Decoder,
    Detector,
    Embedder,
    EventSink,
    ImageSource,
    Notifier,
    Repository,
    ScorerStore,
)
from astrolens.domain.resources import bundled_models_dir
from astrolens.domain.settings import Settings
from astrolens.pipeline.cursors import RepositoryCursorStore
from astrolens.pipeline.discovery import DiscoveryPipeline, PipelineConfig
from astrolens.pipeline.executors import Executors, run_in
from astrolens.settings.paths import AppPaths, app_paths
from astrolens.settings.store import load_settings

if TYPE_CHECKING:
    from astrolens.ml.scoring.ensemble import EnsembleScorer

log = logging.getLogger(__name__)
T = TypeVar("T")


class _CatalogUrls(TypedDict, total=False):
    """The URL arguments of catalogs.report.default_clients a user may set."""

    simbad_url: str
    ned_url: str
    vizier_url: str


@dataclass
class AppOptions:
    """What the command line (or the tray) asks for on top of the saved settings."""

    aggressive: bool | None = None
    crossmatch: bool | None = None
    notify: bool = False
    model: str | None = None
    offline_catalogs: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _log_download(done: int, total: int | None) -> None:
    """A first-use backbone download, logged every ~10 % (the CLI and the agent log it)."""
    step = max(1, (total or 0) // 10) if total else 50 << 20
    if done == total or done // step != (done - (1 << 20)) // step:
        size = f" of {total / 1e6:.0f} MB" if total else ""
        logging.getLogger("astrolens.download").warning(
            "downloading the backbone: %.0f MB%s", done / 1e6, size
        )


class AstroLensApp:
    def __init__(
        self,
        paths: AppPaths | None = None,
        settings: Settings | None = None,
        options: AppOptions | None = None,
    ) -> None:
        self.paths = (paths or app_paths()).ensure()
        self.settings = settings or load_settings(self.paths.settings_file)
        self.options = options or AppOptions()
        if self.options.aggressive is not None:
            self.settings.aggressive = self.options.aggressive
        if self.options.model:
            self.settings.model = self.options.model
        self.executors = Executors.create()
        self._closed = False

    # ------------------------------------------------------------------ adapters

    @cached_property
    def repository(self) -> Repository:
        from astrolens.store.repository import SqliteRepository

        return SqliteRepository(self.paths.database, backups_dir=self.paths.backups_dir)

    @cached_property
    def blobs(self) -> BlobStore:
        from astrolens.store.blobs import FileBlobStore

        store = FileBlobStore(self.paths.data_dir)
        store.sweep()  # temp files a crash left behind
        return store

    @cached_property
    def decoder(self) -> Decoder:
        # Frames decode in worker processes (started on the first large file, stopped when
        # idle); stamps decode on the calling io thread.
        from astrolens.imaging.process_pool import PooledDecoder

        return PooledDecoder()

    @cached_property
    def embedder(self) -> Embedder:
        from astrolens.ml.embedders.registry import create_embedder

        # The bundle ships the ONNX graph of the default backbone among its resources.
        backbone = create_embedder(
            self.settings.model,
            models_dir=self.paths.models_dir,
            search_dirs=[bundled_models_dir()],
            progress=_log_download,
        )
        from astrolens.ml.features.multiview import product_view

        return product_view(backbone)

    @cached_property
    def saved_scorers(self) -> ScorerStore:
        from astrolens.ml.scoring.saved_state import ScorerStateFiles

        return ScorerStateFiles(self.paths.data_dir / "scorers")

    def scorer(self, detectors: Sequence[Callable[[], Detector]] | None = None) -> EnsembleScorer:
        from astrolens.ml.scoring.ensemble import EnsembleScorer

        return EnsembleScorer(detectors, alpha=self.settings.effective_fdr)

    @cached_property
    def crossmatcher(self) -> CrossMatcher | None:
        wanted = self.options.crossmatch
        if wanted is False or (wanted is None and not self.settings.crossmatch):
            return None
        from astrolens.catalogs.cache import CrossMatchCache
        from astrolens.catalogs.matcher import CatalogCrossMatcher
        from astrolens.catalogs.report import default_clients

        enabled = set(self.settings.crossmatch_services)
        # Settings allow only these three services (Settings.validate refuses others).
        given = self.settings.catalog_urls
        urls: _CatalogUrls = {}
        if "simbad" in given:
            urls["simbad_url"] = given["simbad"]
        if "ned" in given:
            urls["ned_url"] = given["ned"]
        if "vizier" in given:
            urls["vizier_url"] = given["vizier"]
        clients = [
            c
            for c in default_clients(offline=self.options.offline_catalogs, **urls)
            if c.service in enabled or c.service == "openngc"
        ]
        cache = CrossMatchCache(self.paths.catalog_cache_dir / "answers.sqlite3")
        return CatalogCrossMatcher(clients, self.executors.io, cache=cache)

    @cached_property
    def notifier(self) -> Notifier:
        from astrolens.notify import create_notifier

        return create_notifier(enabled=self.options.notify and self.settings.notifications)

    @cached_property
    def cursor_store(self) -> RepositoryCursorStore:
        return RepositoryCursorStore(self.db(lambda repo: repo), self.executors)

    # ------------------------------------------------------------------ sources

    def folder_source(self, paths: Sequence[Path], name: str | None = None) -> ImageSource:
        from astrolens.services.source_factory import build_folder_source

        repo = self.db(lambda r: r)

        async def known_uris(
            uris: Sequence[str], fingerprints: Mapping[str, str | None]
        ) -> set[str]:
            return await run_in(self.executors.db, repo.known_uris, list(uris), fingerprints)

        return build_folder_source(list(paths), self.cursor_store, name, known_uris)

    def enabled_sources(self) -> list[ImageSource]:
        from astrolens.services.source_factory import build_source

        sources: list[ImageSource] = []
        for sid, cfg in self.settings.sources.items():
            if not cfg.enabled:
                continue
            try:
                sources.append(build_source(sid, cfg, self.paths, self.cursor_store))
            except KeyError:
                log.warning("settings enable unknown source %r; skipped", sid)
        if self.settings.watch_folders:
            folders = [Path(p).expanduser() for p in self.settings.watch_folders]
            existing = [p for p in folders if p.exists()]
            for missing in set(folders) - set(existing):
                log.warning("watched folder %s does not exist; skipped", missing)
            if existing:
                sources.append(self.folder_source(existing, name="watched"))
        return sources

    # ------------------------------------------------------------------ pipeline

    def pipeline(
        self,
        sources: Sequence[ImageSource],
        events: EventSink | None = None,
        config: PipelineConfig | None = None,
    ) -> DiscoveryPipeline:
        cfg = config or PipelineConfig(interval_s=self.settings.interval_s)
        return DiscoveryPipeline(
            sources=sources,
            decoder=self.decoder,
            embedder=self.embedder,
            scorer_factory=self.scorer,
            repository=self.db(lambda repo: repo),  # opened on the db thread
            blobs=self.blobs,
            executors=self.executors,
            events=events,
            crossmatcher=self.crossmatcher,
            notifier=self.notifier,
            config=cfg,
            saved_scorers=self.saved_scorers,
        )

    def db(self, fn: Callable[[Repository], T]) -> T:
        """Run `fn(repository)` on the db thread, the only thread that touches SQLite."""
        return self.executors.db.submit(lambda: fn(self.repository)).result()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if "repository" in self.__dict__:
            self.executors.db.submit(self.repository.close).result()
        if "decoder" in self.__dict__:
            close = getattr(self.decoder, "close", None)
            if callable(close):
                close()
        self.executors.shutdown(wait=True)


def log_event(event: Event) -> None:
    log.debug("event %r", event)
