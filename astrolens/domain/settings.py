"""The user's settings as typed values. Persistence (TOML) lives in astrolens.settings;
secrets never live here (keyring)."""

from __future__ import annotations

from dataclasses import dataclass, field

from astrolens.domain.catalog_conf import REMOTE_CATALOGS
from astrolens.domain.errors import ConfigurationError

SETTINGS_VERSION = 1
# A vision model each provider is likely to have; the user picks another in settings or --model.
DEFAULT_LLM_MODELS = {"ollama": "llava", "openai": "gpt-4o-mini"}


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
    crossmatch_services: list[str] = field(default_factory=lambda: [*REMOTE_CATALOGS, "openngc"])
    notifications: bool = True
    autostart: bool = False
    watch_folders: list[str] = field(default_factory=list)
    sources: dict[str, SourceSettings] = field(default_factory=default_sources)
    # Catalog service -> base URL of a mirror ("simbad": a TAP endpoint, "ned", "vizier").
    catalog_urls: dict[str, str] = field(default_factory=dict)
    # The local REST API (astrolens.app.api): off unless asked for; always loopback only.
    api_enabled: bool = False
    api_port: int = 8765
    # The LLM annotator. The OpenAI key lives in the keyring, never here; the base URL lets
    # LM Studio or vLLM users point the OpenAI client at their own server.
    llm_provider: str = "ollama"  # "ollama" or "openai"
    llm_model: str = ""  # "": the provider's default (DEFAULT_LLM_MODELS)
    ollama_url: str = "http://127.0.0.1:11434"
    openai_base_url: str = "https://api.openai.com/v1"
    llm_timeout_s: float = 120.0

    @property
    def effective_fdr(self) -> float:
        return self.aggressive_fdr if self.aggressive else self.fdr

    def llm_model_for(self, provider: str) -> str:
        if provider == self.llm_provider and self.llm_model:
            return self.llm_model
        return DEFAULT_LLM_MODELS.get(provider, "")

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
        unknown = set(self.catalog_urls) - set(REMOTE_CATALOGS)
        if unknown:
            raise ConfigurationError(f"catalog_urls: unknown services {sorted(unknown)}")
        if not 1 <= self.api_port <= 65535:
            raise ConfigurationError("api_port must be a TCP port (1-65535)")
        if self.llm_provider not in DEFAULT_LLM_MODELS:
            raise ConfigurationError(
                f"llm_provider must be one of {', '.join(DEFAULT_LLM_MODELS)}, "
                f"not {self.llm_provider!r}"
            )
        if self.llm_timeout_s <= 0:
            raise ConfigurationError("llm_timeout_s must be positive")
        return self
