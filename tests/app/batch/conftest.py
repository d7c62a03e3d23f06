"""Shared inputs for the batch tests: real bench images, a broken file, a missing path."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the astrolens[cluster] extra is not installed")


@pytest.fixture
def bench(shared_data: Path) -> Path:
    return shared_data / "bench"


@pytest.fixture
def rings_reference(bench: Path) -> Path:
    return bench / "rings" / "reference"
