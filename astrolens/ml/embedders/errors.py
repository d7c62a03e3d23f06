"""Errors an embedder can raise, each with a message fit for one clear line."""

from __future__ import annotations

from astrolens.domain.embedder_spec import UnknownEmbedderError as UnknownEmbedderError
from astrolens.domain.errors import AstroLensError


class ModelUnavailableError(AstroLensError):
    """The weights are not on disk and cannot be downloaded now (offline, no network)."""

    exit_code = 6


class CorruptCheckpointError(AstroLensError):
    """A weights file exists but is damaged, truncated or does not fit the architecture."""

    exit_code = 6
