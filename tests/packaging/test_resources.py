"""One resolver finds the resources from a checkout and from inside a PyInstaller bundle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from astrolens.app import autostart
from astrolens.domain import resources

REPO = Path(__file__).resolve().parents[2]


def test_unfrozen_resources_are_the_package_folder() -> None:
    assert not resources.is_frozen()
    assert resources.resources_root() == REPO / "astrolens" / "resources"
    assert resources.resource_path("icons", "astrolens.svg").is_file()
    for state in ("running", "paused", "offline", "error", "starting"):
        assert (resources.icons_dir() / f"tray-{state}.svg").is_file()


def test_frozen_resources_are_under_the_bundle_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.is_frozen()
    assert resources.icons_dir() == tmp_path / "astrolens" / "resources" / "icons"
    assert resources.bundled_models_dir() == tmp_path / "astrolens" / "resources" / "models"


def test_frozen_autostart_launches_the_bundle_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.delenv("APPIMAGE", raising=False)
    assert autostart.launch_command() == [sys.executable]
    monkeypatch.setenv("APPIMAGE", "/opt/AstroLens.AppImage")
    assert autostart.launch_command() == ["/opt/AstroLens.AppImage"]


def test_ui_and_notifier_icons_come_from_the_resolver() -> None:
    from astrolens.notify.desktop import ICON
    from astrolens.ui.icons import icon_path

    assert icon_path("astrolens") == ICON == resources.resource_path("icons", "astrolens.svg")


def test_python_dash_m_astrolens_prints_the_version() -> None:
    from astrolens import __version__

    out = subprocess.run(
        [sys.executable, "-m", "astrolens", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.strip() == f"astrolens {__version__}"
