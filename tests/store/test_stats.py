"""Totals for the status bar."""

from __future__ import annotations

from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.scoring import Verdict
from astrolens.store.repository import SqliteRepository
from tests.store.builders import (
    MODEL,
    decoded,
    now,
    result,
)


def test_stats(repo: SqliteRepository) -> None:
    for seed, verdict, source in (
        (1, Verdict.NORMAL, "sdss"),
        (2, Verdict.NORMAL, "sdss"),
        (3, Verdict.ANOMALY, "legacy"),
        (4, Verdict.NEAR_MISS, "sdss"),
    ):
        img = repo.add_image(decoded(seed, source_id=source), None, None)
        repo.add_score(img.id, MODEL, result(verdict))
    repo.add_image(decoded(5), None, None)  # not scored yet
    repo.add_label(Label(3, LabelValue.FALSE_POSITIVE, "ana", now()))
    repo.quarantine("bad://1", "html page")
    stats = repo.stats()
    assert stats.images == 5 and stats.today == 5
    assert stats.by_verdict == {Verdict.NORMAL: 2, Verdict.ANOMALY: 1, Verdict.NEAR_MISS: 1}
    assert stats.by_source == {"sdss": 4, "legacy": 1}
    assert (stats.candidates, stats.labelled, stats.quarantined) == (2, 1, 1)


def test_hourly_counts_count_what_was_stored_today(
    repo: SqliteRepository, gallery: dict[str, int]
) -> None:
    counts = repo.hourly_counts(24)
    assert len(counts) == 24 and counts[-1] == 6 and sum(counts) == 6  # all just now
