"""Index errors, each with a message fit for one clear line."""

from __future__ import annotations

from astrolens.domain.embedding import ModelMismatchError
from astrolens.domain.errors import AstroLensError


class StaleIndexError(ModelMismatchError):
    """The saved index was built by another model (or dimension): rebuild it from the store."""


class CorruptIndexError(AstroLensError):
    """The index file is damaged or not an AstroLens index: rebuild it from the store."""
