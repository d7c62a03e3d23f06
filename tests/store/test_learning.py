"""Labels and training runs."""

from __future__ import annotations

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
