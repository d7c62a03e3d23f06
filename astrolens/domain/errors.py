"""Errors a user can cause or meet. Each carries a message fit for one clear line."""

from __future__ import annotations


class AstroLensError(Exception):
    """Base for errors that end in a clear message instead of a traceback."""

    exit_code = 1


class UnreadableImageError(AstroLensError):
    """The bytes are not an image we can decode (corrupt file, HTML page, broken FITS)."""

    exit_code = 3


class TemporarilyUnreadableError(UnreadableImageError):
    """Not readable now, perhaps later: a permission error, a file caught mid-copy, a
    maintenance page served in place of the image. Quarantined with a retry time, never for
    good."""


class SourceUnavailableError(AstroLensError):
    """A source cannot be reached now; the pipeline marks it offline and moves on."""

    exit_code = 4


class StorageFullError(AstroLensError):
    """The disk is full: nothing half-written is kept."""

    exit_code = 5


class ConfigurationError(AstroLensError):
    exit_code = 2
