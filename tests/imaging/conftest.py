from __future__ import annotations

import pytest

from astrolens.imaging import ImageDecoder


@pytest.fixture(scope="session")
def decoder() -> ImageDecoder:
    return ImageDecoder()
