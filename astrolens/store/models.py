"""peewee models: one class per table.

The models carry no database: the repository binds them to its own connection
(``Database.bind_ctx``), so two stores (a test and its reopened copy, a backup check) never
share a global binding. The schema itself is created by the numbered migrations in
``migrations.py``; these classes must agree with the latest migration, which a test checks.
"""

from __future__ import annotations

from datetime import UTC, datetime

from peewee import (
    AutoField,
    BlobField,
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def utcnow() -> datetime:
    # Naive UTC throughout the store: SQLite has no time zones, and one convention avoids
    # comparing local and UTC times by accident.
    return datetime.now(UTC).replace(tzinfo=None)


class BaseModel(Model):
    pass


class ImageRow(BaseModel):
    id = AutoField()
    content_hash = CharField(unique=True)
    perceptual_hash = CharField(index=True)
    source_id = CharField(index=True)
    uri = CharField(index=True)
    parent_uri = CharField(null=True, index=True)
    ra_deg = FloatField(null=True)
    dec_deg = FloatField(null=True)
    pixel_scale_arcsec = FloatField(null=True)
    survey = CharField(null=True)
    bands = CharField(null=True)
    width = IntegerField()
    height = IntegerField()
    image_group = CharField(index=True)
    stamp_x = FloatField(null=True)
    stamp_y = FloatField(null=True)
    object_size_px = FloatField(null=True)
    image_path = TextField(null=True)
    thumbnail_path = TextField(null=True)
    extra_json = TextField(default="{}")
    sightings = IntegerField(default=1)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "images"


class SightingRow(BaseModel):
    id = AutoField()
    image = ForeignKeyField(ImageRow, on_delete="CASCADE", index=True)
    uri = CharField(index=True)
    seen_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "sightings"


class EmbeddingRow(BaseModel):
    id = AutoField()
    # No index of its own: the unique (image, model_id) index below serves lookups by image.
    image = ForeignKeyField(ImageRow, on_delete="CASCADE", index=False)
    model_id = CharField(index=True)
    dim = IntegerField()
    vector = BlobField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "embeddings"
        indexes = ((("image", "model_id"), True),)


class ScoreRow(BaseModel):
    id = AutoField()
    image = ForeignKeyField(ImageRow, on_delete="CASCADE")
    model_id = CharField()
    score = FloatField()
    p_value = FloatField()
    verdict = CharField()
    detector_scores_json = TextField(default="{}")
    calibration_version = IntegerField(default=0)
    anomaly_p = FloatField(null=True)
    near_miss_p = FloatField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "scores"
        # "the latest score of an image for a model" is max(id) over this index.
        indexes = ((("model_id", "image", "id"), False),)


class CandidateRow(BaseModel):
    """One row per image ever judged anomaly or near-miss, mirroring its latest score.

    verdict, score, source_id and label_value are copies kept here so the gallery filters
    and sorts 100k rows on one indexed table instead of joining the history tables.
    """

    id = AutoField()
    image = ForeignKeyField(ImageRow, on_delete="CASCADE", unique=True)
    score_row = ForeignKeyField(ScoreRow, on_delete="CASCADE")
    # peewee's raw foreign-key columns, declared for the type checker.
    image_id: int
    score_row_id: int
    model_id = CharField()
    source_id = CharField(index=True)
    verdict = CharField()
    score = FloatField()
    rank_score = FloatField(null=True, index=True)
    catalog_verdict = CharField(default="pending", index=True)
    label_value = CharField(null=True, index=True)
    created_at = DateTimeField(default=utcnow, index=True)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "candidates"
        indexes = ((("verdict", "score"), False),)


class CrossMatchRow(BaseModel):
    """The latest answer of one service for one image, with its retry schedule."""

    id = AutoField()
    image = ForeignKeyField(ImageRow, on_delete="CASCADE", index=False)  # see (image, service)
    image_id: int
    service = CharField()
    catalog = CharField(null=True)
    status = CharField()
    radius_arcsec = FloatField()
    objects_json = TextField(default="[]")
    reason = TextField(default="")
    attempts = IntegerField(default=0)
    checked_at = DateTimeField(null=True)
    next_retry_at = DateTimeField(null=True, index=True)

    class Meta:
        table_name = "crossmatches"
        indexes = ((("image", "service"), True),)


class LabelRow(BaseModel):
    id = AutoField()
    image = ForeignKeyField(ImageRow, on_delete="CASCADE", index=True)
    image_id: int
    value = CharField()
    author = CharField()
    note = TextField(default="")
    origin = CharField(default="ui")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "labels"


class CalibrationRow(BaseModel):
    id = AutoField()
    version = IntegerField(unique=True)
    model_id = CharField()
    image_group = CharField()
    reference_size = IntegerField()
    fdr = FloatField()
    anomaly_p = FloatField()
    near_miss_p = FloatField()
    bootstrap = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "calibrations"
        indexes = ((("model_id", "image_group", "version"), False),)


class TrainingRunRow(BaseModel):
    id = AutoField()
    model_id = CharField(index=True)
    parameters_json = TextField(default="{}")
    data_description = TextField(default="")
    metrics_before_json = TextField(default="{}")
    metrics_after_json = TextField(default="{}")
    promoted = BooleanField(default=False)
    status = CharField(default="running")
    started_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)

    class Meta:
        table_name = "training_runs"


class QuarantineRow(BaseModel):
    id = AutoField()
    uri = CharField(unique=True)
    reason = TextField()
    count = IntegerField(default=1)
    last_seen = DateTimeField(default=utcnow)
    # NULL: a bad file, never read again unless it changes. Set: read again after this time.
    retry_at = DateTimeField(null=True)
    fingerprint = CharField(null=True)  # "size:mtime_ns" of a local file when it failed
    task_json = TextField(null=True)  # the FetchTask to retry (temporary failures only)

    class Meta:
        table_name = "quarantine"


class UnfinishedFileRow(BaseModel):
    """A file whose images (a frame and its stamps) are not all stored yet: not done."""

    uri = CharField(primary_key=True)
    started_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "unfinished_files"


class SourceCursorRow(BaseModel):
    source_id = CharField(primary_key=True)
    cursor = TextField()
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "source_cursors"


class KeyValueRow(BaseModel):
    key = CharField(primary_key=True)
    value = TextField()

    class Meta:
        table_name = "key_values"


class AnnotationRow(BaseModel):
    """What an LLM said about an image, with the provider, model and prompt that said it."""

    id = AutoField()
    image = ForeignKeyField(ImageRow, on_delete="CASCADE", index=True)
    image_id: int
    provider = CharField()
    model = CharField()
    prompt_version = IntegerField()
    text = TextField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "annotations"


ALL_MODELS: tuple[type[BaseModel], ...] = (
    ImageRow,
    SightingRow,
    EmbeddingRow,
    ScoreRow,
    CandidateRow,
    CrossMatchRow,
    LabelRow,
    CalibrationRow,
    TrainingRunRow,
    QuarantineRow,
    SourceCursorRow,
    KeyValueRow,
    UnfinishedFileRow,
    AnnotationRow,
)
