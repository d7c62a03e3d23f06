"""A home with candidates that have sky positions: the user's own target list, scanned by the
real CLI from the local SkyServer stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from astrolens.app.cli import main
from astrolens.domain.settings import Settings, SourceSettings
from astrolens.settings.paths import app_paths
from astrolens.settings.store import save_settings
from tests.sources.fake_services import FakeServices


@pytest.fixture
def scanned(
    fake_services: FakeServices, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> list[dict]:
    """16 galaxies of the user's list, scanned from SkyServer (a fast rate: it is local)."""
    settings = Settings()
    settings.sources["sdss"] = SourceSettings(enabled=False, rate_per_s=50)
    settings.sources["legacy-survey"] = SourceSettings(enabled=False, rate_per_s=50)
    save_settings(settings, app_paths().ensure().settings_file)
    table = tmp_path / "my_galaxies.csv"
    rows = [f"gal{i},{150 + i * 0.01:.4f},{2.0 + i * 0.01:.4f}" for i in range(16)]
    table.write_text("name,ra,dec\n" + "\n".join(rows) + "\nbroken,,\n")
    base = fake_services.base_url
    code = main(["targets", str(table), "--survey", "sdss", "--base-url", base, "--no-crossmatch"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "16 targets from my_galaxies.csv (1 rows skipped)" in captured.out
    assert "skipped row 17: no readable RA/Dec" in captured.err
    assert len(fake_services.requests_to("/dr18/SkyServerWS/ImgCutout")) == 16
    assert main(["candidates", "--json", "--limit", "1000"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found, "16 cutouts against a bootstrap reference give at least one near-miss"
    return found
