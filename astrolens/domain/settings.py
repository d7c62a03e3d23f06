"""The user's settings as typed values. Persistence (TOML) lives in astrolens.settings;
secrets never live here (keyring)."""

from __future__ import annotations

from dataclasses import dataclass, field

from astrolens.domain.errors import ConfigurationError

SETTINGS_VERSION = 1


@dataclass
class SourceSettings:
    enabled: bool = True
    rate_per_s: float | None = None  # None: the source's own polite default
    cutout_px: int | None = None
    release: str | None = None  # survey data release / layer, e.g. "DR18", "ls-dr10"
    # A mirror (or a test's fault server) instead of the service's own address.
    base_url: str | None = None


def default_sources() -> dict[str, SourceSettings]:
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
    sources: dict[str, SourceSettings] = field(default_factory=default_sources)
    # Catalog service -> base URL of a mirror ("simbad": a TAP endpoint, "ned", "vizier").
    catalog_urls: dict[str, str] = field(default_factory=dict)

    @property
    def effective_fdr(self) -> float:
        return self.aggressive_fdr if self.aggressive else self.fdr

    def validate(self) -> Settings:
        if not 0.0 < self.fdr < 1.0 or not 0.0 < self.aggressive_fdr < 1.0:
            raise ConfigurationError("fdr must lie strictly between 0 and 1")
        if self.interval_s < 1.0:
            raise ConfigurationError("interval_s must be at least 1 second")
        urls = [(f"sources.{sid}.base_url", s.base_url) for sid, s in self.sources.items()]
        urls += [(f"catalog_urls.{name}", url) for name, url in self.catalog_urls.items()]
        for where, url in urls:
            if url is not None and not url.startswith(("http://", "https://")):
                raise ConfigurationError(f"{where} must be an http:// or https:// URL: {url!r}")
        unknown = set(self.catalog_urls) - {"simbad", "ned", "vizier"}
        if unknown:
            raise ConfigurationError(f"catalog_urls: unknown services {sorted(unknown)}")
        return self
