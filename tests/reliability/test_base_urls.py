"""Sources and catalogs take a base URL from settings.toml: a user's mirror, or the suite's
fault server (tests/reliability/test_quarantine.py drives SDSS through one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from astrolens.domain.errors import ConfigurationError
from astrolens.settings.store import load_settings


def _write(home: Path, text: str) -> Path:
    path = home / "config" / "settings.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_catalog_and_source_urls_reach_the_clients(isolated_home: Path) -> None:
    from astrolens.app.context import AstroLensApp

    _write(
        isolated_home,
        """
[catalog_urls]
simbad = "http://127.0.0.1:9/simbad/sim-tap"
ned = "http://127.0.0.1:9/ned"
vizier = "http://127.0.0.1:9/vizier"

[sources.legacy-survey]
enabled = true
base_url = "http://127.0.0.1:9/mirror/"
""",
    )
    app = AstroLensApp()
    try:
        clients = {c.service: c for c in app.crossmatcher.clients}  # type: ignore[union-attr]
        assert clients["simbad"].tap_url == "http://127.0.0.1:9/simbad/sim-tap"
        assert clients["ned"].base_url == "http://127.0.0.1:9/ned"
        assert clients["vizier"].server_url == "http://127.0.0.1:9/vizier"
        (legacy,) = [s for s in app.enabled_sources() if s.id == "legacy-survey"]
        assert legacy.config.base_url == "http://127.0.0.1:9/mirror"  # type: ignore[attr-defined]
    finally:
        app.close()


@pytest.mark.parametrize(
    "text",
    [
        '[sources.sdss]\nbase_url = "ftp://mirror.example/sdss"\n',
        '[catalog_urls]\nsimbad = "simbad.local"\n',
        '[catalog_urls]\nsesame = "http://x.test/"\n',
    ],
)
def test_a_bad_base_url_is_a_clear_configuration_error(isolated_home: Path, text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"URL|unknown services"):
        load_settings(_write(isolated_home, text))
