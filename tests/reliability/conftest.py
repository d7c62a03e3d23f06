from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def horsehead(shared_data: Path) -> Path:
    return shared_data / "demo" / "picture_or_fits__HorseHead.fits"


@pytest.fixture
def demo_jpegs(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "demo").glob("*.jpg"))


def copy_into(folder: Path, *files: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy(path, folder / path.name)
    return folder


from tests.sources.fake_services import fake_services  # noqa: E402  (fixture for this folder)

__all__ = ["copy_into", "fake_services"]
