"""Typed user settings, stored as TOML in the config dir. Secrets never live here (keyring).

The file carries `version`; older files are upgraded on load and unknown keys are ignored
(with a log line), so a settings file from a newer or older release never stops the app.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from astrolens.domain.errors import ConfigurationError

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1


@dataclass
class SourceSettings:
    enabled: bool = True
    rate_per_s: float | None = None  # None: the source's own polite default
    cutout_px: int | None = None
    release: str | None = None  # survey data release / layer, e.g. "DR18", "ls-dr10"


def _default_sources() -> dict[str, SourceSettings]:
    # Only the offline sample sky is on by default: a new user gets discoveries with no network
    # and no configuration; online surveys are one switch away in Settings.
    return {
        "sample-sky": SourceSettings(enabled=True),
        "sdss": SourceSettings(enabled=False),
        "legacy-survey": SourceSettings(enabled=False),
        "ztf": SourceSettings(enabled=False),
        "apod": SourceSettings(enabled=False),
    }


@dataclass
class Settings:
    version: int = SETTINGS_VERSION
    interval_s: float = 900.0
    aggressive: bool = False
    fdr: float = 0.05
    aggressive_fdr: float = 0.2
    model: str = "efficientnet-lite0"
    data_dir: str | None = None  # None: the platform's data dir
    crossmatch: bool = True
    crossmatch_services: list[str] = field(
        default_factory=lambda: ["simbad", "ned", "vizier", "openngc"]
    )
    notifications: bool = True
    autostart: bool = False
    watch_folders: list[str] = field(default_factory=list)
    sources: dict[str, SourceSettings] = field(default_factory=_default_sources)

    @property
    def effective_fdr(self) -> float:
        return self.aggressive_fdr if self.aggressive else self.fdr

    def validate(self) -> Settings:
        if not 0.0 < self.fdr < 1.0 or not 0.0 < self.aggressive_fdr < 1.0:
            raise ConfigurationError("fdr must lie strictly between 0 and 1")
        if self.interval_s < 1.0:
            raise ConfigurationError("interval_s must be at least 1 second")
        return self


def _from_dict(data: dict[str, Any]) -> Settings:
    version = int(data.get("version", 1))
    if version > SETTINGS_VERSION:
        log.warning("settings file is from a newer AstroLens (v%d); reading what we know", version)
    known = {f.name for f in dataclasses.fields(Settings)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            log.warning("ignoring unknown setting %r", key)
        elif key == "sources":
            merged = _default_sources()
            source_fields = {f.name for f in dataclasses.fields(SourceSettings)}
            for sid, sval in dict(value).items():
                merged[sid] = SourceSettings(
                    **{k: v for k, v in dict(sval).items() if k in source_fields}
                )
            kwargs["sources"] = merged
        elif key != "version":
            kwargs[key] = value
    return Settings(**kwargs).validate()


def _to_dict(settings: Settings) -> dict[str, Any]:
    def clean(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    data = clean(dataclasses.asdict(settings))
    data["version"] = SETTINGS_VERSION
    return data  # type: ignore[no-any-return]


def load_settings(path: Path) -> Settings:
    if not path.exists():
        return Settings()
    try:
        with path.open("rb") as fh:
            return _from_dict(tomllib.load(fh))
    except (tomllib.TOMLDecodeError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"cannot read settings {path}: {exc}") from exc


def save_settings(settings: Settings, path: Path) -> None:
    """Write atomically: a crash mid-write leaves the old file, never half a file."""
    settings.validate()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = tomli_w.dumps(_to_dict(settings)).encode()
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
