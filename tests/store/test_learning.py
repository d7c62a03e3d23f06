"""What people and models said about images: labels, annotations, training runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from astrolens.domain.annotation import Annotation
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.records import TrainingStatus
from astrolens.domain.scoring import Verdict
from astrolens.store.repository import SqliteRepository
from tests.store.builders import (
    MODEL,
    decoded,
    now,
    result,
)


def test_labels_round_trip_and_mark_candidates(repo: SqliteRepository) -> None:
    image = repo.add_image(decoded(1), None, None)
    repo.add_score(image.id, MODEL, result(Verdict.ANOMALY, 5.0))
    first = Label(image.id, LabelValue.UNSURE, "ana", now(), note="faint", origin="notification")
    second = Label(image.id, LabelValue.TRUE_POSITIVE, "ana", now(), note="a ring!")
    repo.add_label(first)
    repo.add_label(second)
    assert repo.labels() == [first, second]
    assert repo.labels(image.id) == [first, second]
    candidate = repo.get_candidate(image.id)
    assert candidate is not None and candidate.label == second


def test_training_runs_round_trip(repo: SqliteRepository) -> None:
    run = repo.add_training_run(MODEL, {"epochs": 3, "lr": 1e-4}, "120 labels, 40 positive")
    assert run.status is TrainingStatus.RUNNING and run.finished_at is None
    finished = repo.finish_training_run(
        run.id,
        status=TrainingStatus.FINISHED,
        metrics_before={"auroc": 0.81},
        metrics_after={"auroc": 0.86},
        promoted=True,
    )
    assert finished.parameters == {"epochs": 3, "lr": 1e-4}
    assert finished.metrics_after == {"auroc": 0.86} and finished.promoted
    assert finished.finished_at is not None
    assert repo.training_runs() == [finished]
    assert repo.training_runs("other") == []


def test_annotations_round_trip_newest_first(repo: SqliteRepository) -> None:
    image = repo.add_image(decoded(1), None, None)
    first = repo.add_annotation(
        Annotation(image.id, "ollama", "llava", 1, "a spiral galaxy", now())
    )
    # an aware time is stored as the naive UTC every other table keeps
    aware = datetime(2026, 1, 2, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    second = repo.add_annotation(Annotation(image.id, "openai", "gpt", 2, "a merger", aware))
    assert first.id is not None and second.id is not None
    assert second.created_at == datetime(2026, 1, 2, 12, 0)
    assert [a.text for a in repo.annotations(image.id)] == ["a merger", "a spiral galaxy"]
    assert repo.annotations(image.id)[1] == first
    assert repo.annotations(image.id + 1) == []
