"""Settings on disk: TOML in the config dir, versioned, written atomically.

The file carries `version`; unknown keys are ignored with a log line, so a settings file from a
newer or older release never stops the app.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from astrolens.domain.errors import ConfigurationError
from astrolens.domain.settings import (
    SETTINGS_VERSION,
    Settings,
    SourceSettings,
    default_sources,
)
from astrolens.fileio import atomic

log = logging.getLogger(__name__)


def settings_from_dict(data: dict[str, Any]) -> Settings:
    version = int(data.get("version", 1))
    if version > SETTINGS_VERSION:
        log.warning("settings file is from a newer AstroLens (v%d); reading what we know", version)
    known = {f.name for f in dataclasses.fields(Settings)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            log.warning("ignoring unknown setting %r", key)
        elif key == "sources":
            merged = default_sources()
            source_fields = {f.name for f in dataclasses.fields(SourceSettings)}
            for sid, sval in dict(value).items():
                merged[sid] = SourceSettings(
                    **{k: v for k, v in dict(sval).items() if k in source_fields}
                )
            kwargs["sources"] = merged
        elif key != "version":
            kwargs[key] = value
    return Settings(**kwargs).validate()


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    def clean(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    data: dict[str, Any] = clean(dataclasses.asdict(settings))
    data["version"] = SETTINGS_VERSION
    return data


def load_settings(path: Path) -> Settings:
    if not path.exists():
        return Settings()
    try:
        with path.open("rb") as fh:
            return settings_from_dict(tomllib.load(fh))
    except (tomllib.TOMLDecodeError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"cannot read settings {path}: {exc}") from exc


def save_settings(settings: Settings, path: Path) -> None:
    """Write atomically: a crash mid-write leaves the old file, never half a file."""
    settings.validate()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = tomli_w.dumps(settings_to_dict(settings)).encode()
    atomic.write_bytes(path, payload)
