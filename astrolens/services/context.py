"""What an application service needs from the app: the one dependency of the services package.

The composition root (`astrolens.app.context.AstroLensApp`) satisfies this Protocol
structurally, so the services never import the app that wires them: the import contracts in
pyproject.toml keep `services` below `app`, beside the UI, and free of Qt. A test or a batch
worker can hand a service any object with these members.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

from astrolens.domain.ports import Decoder, Detector, Embedder, Repository
from astrolens.domain.settings import Settings
from astrolens.pipeline.cursors import RepositoryCursorStore
from astrolens.pipeline.executors import Executors
from astrolens.settings.paths import AppPaths

if TYPE_CHECKING:
    from astrolens.ml.scoring.ensemble import EnsembleScorer

T = TypeVar("T")


class ServiceContext(Protocol):
    paths: AppPaths
    settings: Settings
    executors: Executors

    @property
    def repository(self) -> Repository: ...

    @property
    def decoder(self) -> Decoder: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def cursor_store(self) -> RepositoryCursorStore: ...

    def scorer(
        self, detectors: Sequence[Callable[[], Detector]] | None = None
    ) -> EnsembleScorer: ...

    def db(self, fn: Callable[[Repository], T]) -> T:
        """Run `fn` with the repository on the db thread and return its result (blocking)."""
        ...
