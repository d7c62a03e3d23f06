"""Checks on command-line arguments shared by the CLI's command modules."""

from __future__ import annotations

from pathlib import Path

from astrolens.domain.errors import ConfigurationError


def require_paths(paths: list[Path]) -> list[Path]:
    """The paths with ~ expanded; a clear error for the first that does not exist."""
    resolved = [p.expanduser() for p in paths]
    for path in resolved:
        if not path.exists():
            raise ConfigurationError(f"no such file or folder: {path}")
    return resolved
