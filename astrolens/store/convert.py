"""Rows to domain objects and back. Pure functions: no queries here."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from astrolens.domain.annotation import Annotation
from astrolens.domain.crossmatch import (
    CrossMatch,
    MatchStatus,
    catalog_object_from_json,
    catalog_object_to_json,
)
from astrolens.domain.embedding import Vector
from astrolens.domain.images import ImageGroup, ImageRecord, Provenance
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.records import QuarantineEntry, TrainingRun, TrainingStatus
from astrolens.domain.scoring import Calibration, ScoreResult, Thresholds, Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.store.models import (
    AnnotationRow,
    CalibrationRow,
    CrossMatchRow,
    ImageRow,
    LabelRow,
    QuarantineRow,
    ScoreRow,
    TrainingRunRow,
)

# Vectors are stored little-endian float32 whatever the machine, so a database copied
# between machines reads back the same numbers.
_VECTOR_DTYPE = np.dtype("<f4")


def _json_default(value: object) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def dumps(value: object) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True)


def loads_dict(text: str | None) -> dict[str, Any]:
    loaded = json.loads(text) if text else {}
    return loaded if isinstance(loaded, dict) else {}


def vector_to_blob(vector: Vector) -> bytes:
    flat = np.ascontiguousarray(np.asarray(vector).reshape(-1), dtype=_VECTOR_DTYPE)
    return flat.tobytes()


def blob_to_vector(blob: bytes, dim: int) -> Vector:
    vector = np.frombuffer(blob, dtype=_VECTOR_DTYPE).astype(np.float32)
    if vector.shape != (dim,):
        raise ValueError(f"stored vector has {vector.size} values, expected {dim}")
    return vector


def image_record(row: ImageRow) -> ImageRecord:
    sky = (
        SkyPosition(row.ra_deg, row.dec_deg)
        if row.ra_deg is not None and row.dec_deg is not None
        else None
    )
    provenance = Provenance(
        source_id=row.source_id,
        uri=row.uri,
        survey=row.survey,
        bands=row.bands,
        pixel_scale_arcsec=row.pixel_scale_arcsec,
        sky=sky,
        extra=loads_dict(row.extra_json),
    )
    return ImageRecord(
        id=row.id,
        content_hash=row.content_hash,
        perceptual_hash=row.perceptual_hash,
        provenance=provenance,
        width=row.width,
        height=row.height,
        group=ImageGroup(row.image_group),
        created_at=row.created_at,
        parent_uri=row.parent_uri,
        image_path=row.image_path,
        thumbnail_path=row.thumbnail_path,
        sightings=row.sightings,
    )


def score_result(row: ScoreRow) -> ScoreResult:
    thresholds = (
        Thresholds(row.anomaly_p, row.near_miss_p)
        if row.anomaly_p is not None and row.near_miss_p is not None
        else None
    )
    return ScoreResult(
        score=row.score,
        p_value=row.p_value,
        verdict=Verdict(row.verdict),
        detector_scores={k: float(v) for k, v in loads_dict(row.detector_scores_json).items()},
        calibration_version=row.calibration_version,
        thresholds=thresholds,
    )


# The store modules' name for the one JSON shape of a catalog object (domain/crossmatch.py).
catalog_object_to_dict = catalog_object_to_json


def crossmatch(row: CrossMatchRow) -> CrossMatch:
    objects = json.loads(row.objects_json) if row.objects_json else []
    return CrossMatch(
        service=row.service,
        status=MatchStatus(row.status),
        radius_arcsec=row.radius_arcsec,
        objects=tuple(catalog_object_from_json(o) for o in objects),
        reason=row.reason,
        checked_at=row.checked_at,
        catalog=row.catalog,
    )


def label(row: LabelRow) -> Label:
    return Label(
        image_id=row.image_id,
        value=LabelValue(row.value),
        author=row.author,
        created_at=row.created_at,
        note=row.note,
        origin=row.origin,
    )


def calibration(row: CalibrationRow) -> Calibration:
    return Calibration(
        version=row.version,
        model_id=row.model_id,
        group=row.image_group,
        reference_size=row.reference_size,
        fdr=row.fdr,
        thresholds=Thresholds(row.anomaly_p, row.near_miss_p),
        created_at=row.created_at,
        bootstrap=bool(row.bootstrap),
    )


def training_run(row: TrainingRunRow) -> TrainingRun:
    return TrainingRun(
        id=row.id,
        model_id=row.model_id,
        parameters=loads_dict(row.parameters_json),
        data_description=row.data_description,
        started_at=row.started_at,
        status=TrainingStatus(row.status),
        metrics_before={k: float(v) for k, v in loads_dict(row.metrics_before_json).items()},
        metrics_after={k: float(v) for k, v in loads_dict(row.metrics_after_json).items()},
        promoted=bool(row.promoted),
        finished_at=row.finished_at,
    )


def quarantine_entry(row: QuarantineRow) -> QuarantineEntry:
    return QuarantineEntry(
        uri=row.uri,
        reason=row.reason,
        count=row.count,
        last_seen=row.last_seen,
        retry_at=row.retry_at,
    )


def annotation(row: AnnotationRow) -> Annotation:
    return Annotation(
        image_id=row.image_id,
        provider=row.provider,
        model=row.model,
        prompt_version=row.prompt_version,
        text=row.text,
        created_at=row.created_at,
        id=row.id,
    )
