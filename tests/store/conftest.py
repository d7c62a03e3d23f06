from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from astrolens.domain.crossmatch import CrossMatch, MatchStatus
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.scoring import Verdict
from astrolens.store.repository import SqliteRepository
from tests.store.builders import MODEL, decoded, now, result


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "astrolens.sqlite3"


@pytest.fixture
def repo(db_path: Path) -> Iterator[SqliteRepository]:
    repository = SqliteRepository(db_path)
    yield repository
    repository.close()


@pytest.fixture
def gallery(repo: SqliteRepository) -> dict[str, int]:
    """Six images with distinct scores, sources, labels and catalog answers."""
    ids: dict[str, int] = {}
    rows = (
        ("a", Verdict.ANOMALY, 9.0, "sdss"),
        ("b", Verdict.ANOMALY, 7.0, "legacy"),
        ("c", Verdict.NEAR_MISS, 5.0, "sdss"),
        ("d", Verdict.NEAR_MISS, 3.0, "legacy"),
        ("e", Verdict.NORMAL, 0.5, "sdss"),
        ("f", Verdict.ANOMALY, 8.0, "sdss"),
    )
    for seed, (name, verdict, score, source) in enumerate(rows):
        img = repo.add_image(decoded(seed, source_id=source), None, None)
        repo.add_score(img.id, MODEL, result(verdict, score))
        ids[name] = img.id
    repo.add_label(Label(ids["a"], LabelValue.TRUE_POSITIVE, "ana", now()))
    repo.add_label(Label(ids["c"], LabelValue.FALSE_POSITIVE, "ana", now()))
    repo.save_crossmatch(ids["b"], CrossMatch("simbad", MatchStatus.NO_MATCH, 5.0))
    repo.set_rank_score(ids["d"], 0.9)
    repo.set_rank_score(ids["b"], 0.4)
    return ids
