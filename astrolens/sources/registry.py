"""Sources registered by id. Each module registers a factory; the app builds the enabled ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from astrolens.domain.images import ImageGroup
from astrolens.domain.ports import ImageSource

SourceFactory = Callable[..., ImageSource]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    id: str
    title: str
    group: ImageGroup
    online: bool
    factory: SourceFactory
    description: str = ""


_REGISTRY: dict[str, SourceInfo] = {}


def register(info: SourceInfo) -> SourceInfo:
    if info.id in _REGISTRY and _REGISTRY[info.id].factory is not info.factory:
        raise ValueError(f"source id {info.id!r} registered twice")
    _REGISTRY[info.id] = info
    return info


def registered() -> dict[str, SourceInfo]:
    """Every known source. Importing the source modules is what registers them."""
    _load_builtin()
    return dict(_REGISTRY)


def create(source_id: str, **kwargs: Any) -> ImageSource:
    info = registered().get(source_id)
    if info is None:
        raise KeyError(f"unknown source {source_id!r}; known: {', '.join(sorted(_REGISTRY))}")
    return info.factory(**kwargs)


# Modules that register built-in sources. Listed here (not discovered) so PyInstaller's spec can
# read the same list for its hidden imports.
BUILTIN_MODULES: tuple[str, ...] = (
    "astrolens.sources.folder",
    "astrolens.sources.sample_sky",
    "astrolens.sources.sdss",
    "astrolens.sources.legacy_survey",
    "astrolens.sources.ztf",
    "astrolens.sources.apod",
)


def _load_builtin() -> None:
    import importlib

    for module in BUILTIN_MODULES:
        importlib.import_module(module)
