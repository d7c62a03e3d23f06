from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from astrolens.store.repository import SqliteRepository


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "astrolens.sqlite3"


@pytest.fixture
def repo(db_path: Path) -> Iterator[SqliteRepository]:
    repository = SqliteRepository(db_path)
    yield repository
    repository.close()
