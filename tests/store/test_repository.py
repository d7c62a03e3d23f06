"""The assembled repository: it implements every store port, opens its database with the
right settings, and two open repositories never mix."""

from __future__ import annotations

from pathlib import Path

import pytest

from astrolens.domain.ports import (
    CandidateStore,
    CrossMatchStore,
    ImageStore,
    LearningStore,
    Repository,
    RunStore,
    ScoreStore,
    StatsStore,
    VectorStore,
)
from astrolens.store.repository import SqliteRepository
from tests.store.builders import (
    decoded,
)

# The narrow ports the composite Repository port is made of (domain/store_ports.py).
STORE_PORTS = (
    ImageStore,
    VectorStore,
    ScoreStore,
    CandidateStore,
    CrossMatchStore,
    LearningStore,
    RunStore,
    StatsStore,
)


@pytest.mark.parametrize("port", STORE_PORTS)
def test_implements_every_store_port(repo: SqliteRepository, port: type) -> None:
    port_methods = {
        name for name in vars(port) if not name.startswith("_") and callable(getattr(port, name))
    }
    assert port_methods, "the Protocol should declare methods"
    for name in port_methods:
        assert callable(getattr(repo, name)), name


def test_the_repository_port_is_the_union_of_the_store_ports() -> None:
    assert set(Repository.__mro__) >= set(STORE_PORTS)


def test_integrity_check_and_pragmas(repo: SqliteRepository) -> None:
    assert repo.integrity_check() == "ok"
    db = repo._db
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_two_open_repositories_do_not_mix(tmp_path: Path) -> None:
    a = SqliteRepository(tmp_path / "a.sqlite3")
    b = SqliteRepository(tmp_path / "b.sqlite3")
    try:
        a.add_image(decoded(1), None, None)
        assert b.count_images() == 0 and a.count_images() == 1
    finally:
        a.close()
        b.close()
