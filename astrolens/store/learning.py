"""What people and models said about images: labels, annotations, training runs.

Implements ``astrolens.domain.store_ports.LearningStore``.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from astrolens.domain.annotation import Annotation
from astrolens.domain.labels import Label
from astrolens.domain.records import (
    TrainingRun,
    TrainingStatus,
)
from astrolens.store import convert
from astrolens.store.base import SqliteStoreBase, bound
from astrolens.store.models import (
    AnnotationRow,
    CandidateRow,
    LabelRow,
    TrainingRunRow,
    utcnow,
)


class SqliteLearning(SqliteStoreBase):
    """``LearningStore`` on SQLite."""

    @bound
    def add_label(self, label: Label) -> None:
        with self._db.atomic():
            LabelRow.create(
                image=label.image_id,
                value=label.value.value,
                author=label.author,
                note=label.note,
                origin=label.origin,
                created_at=label.created_at,
            )
            CandidateRow.update(label_value=label.value.value, updated_at=utcnow()).where(
                CandidateRow.image == label.image_id
            ).execute()

    @bound
    def labels(self, image_id: int | None = None) -> list[Label]:
        """Every label in the order given (the training set), or one image's history."""
        query = LabelRow.select().order_by(LabelRow.id)
        if image_id is not None:
            query = query.where(LabelRow.image == image_id)
        return [convert.label(r) for r in query]

    @bound
    def add_annotation(self, annotation: Annotation) -> Annotation:
        row = AnnotationRow.create(
            image=annotation.image_id,
            provider=annotation.provider,
            model=annotation.model,
            prompt_version=annotation.prompt_version,
            text=annotation.text,
            created_at=annotation.created_at.astimezone(UTC).replace(tzinfo=None)
            if annotation.created_at.tzinfo
            else annotation.created_at,
        )
        return convert.annotation(row)

    @bound
    def annotations(self, image_id: int) -> list[Annotation]:
        """One image's annotations, newest first."""
        query = (
            AnnotationRow.select()
            .where(AnnotationRow.image == image_id)
            .order_by(AnnotationRow.id.desc())
        )
        return [convert.annotation(r) for r in query]

    @bound
    def add_training_run(
        self, model_id: str, parameters: dict[str, Any], data_description: str
    ) -> TrainingRun:
        row = TrainingRunRow.create(
            model_id=model_id,
            parameters_json=convert.dumps(parameters),
            data_description=data_description,
            status=TrainingStatus.RUNNING.value,
        )
        return convert.training_run(row)

    @bound
    def finish_training_run(
        self,
        run_id: int,
        *,
        status: TrainingStatus,
        metrics_before: dict[str, float],
        metrics_after: dict[str, float],
        promoted: bool,
        parameters: dict[str, Any] | None = None,
    ) -> TrainingRun:
        """`parameters`, if given, are merged into the run's (e.g. the model it promoted)."""
        with self._db.atomic():
            changes: dict[Any, Any] = {
                TrainingRunRow.status: status.value,
                TrainingRunRow.metrics_before_json: convert.dumps(metrics_before),
                TrainingRunRow.metrics_after_json: convert.dumps(metrics_after),
                TrainingRunRow.promoted: promoted,
                TrainingRunRow.finished_at: utcnow(),
            }
            if parameters:
                current = convert.training_run(TrainingRunRow.get_by_id(run_id)).parameters
                changes[TrainingRunRow.parameters_json] = convert.dumps({**current, **parameters})
            TrainingRunRow.update(changes).where(TrainingRunRow.id == run_id).execute()
            return convert.training_run(TrainingRunRow.get_by_id(run_id))

    @bound
    def training_runs(self, model_id: str | None = None) -> list[TrainingRun]:
        query = TrainingRunRow.select().order_by(TrainingRunRow.id.desc())
        if model_id is not None:
            query = query.where(TrainingRunRow.model_id == model_id)
        return [convert.training_run(r) for r in query]
