"""Request and response bodies (pydantic): validated in, documented in /docs, built from
domain objects by the `*_out` functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from astrolens.domain.annotation import Annotation
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CrossMatch
from astrolens.domain.images import ImageRecord
from astrolens.domain.learning import HeadPrediction
from astrolens.domain.records import TrainingRun


class ErrorOut(BaseModel):
    error: str


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ImageOut(BaseModel):
    id: int
    source: str
    uri: str
    parent_uri: str | None
    group: str
    width: int
    height: int
    ra_deg: float | None
    dec_deg: float | None
    created_at: datetime
    image_url: str
    thumbnail_url: str


class CatalogObjectOut(BaseModel):
    name: str
    type: str | None
    separation_arcsec: float
    redshift: float | None


class CrossMatchOut(BaseModel):
    service: str
    catalog: str | None
    status: str
    reason: str
    radius_arcsec: float
    checked_at: datetime | None
    objects: list[CatalogObjectOut]


class CandidateOut(BaseModel):
    id: int
    verdict: str
    score: float
    p_value: float
    rank_score: float | None
    explanation: str
    detector_scores: dict[str, float]
    anomaly_p: float | None
    near_miss_p: float | None
    calibration_version: int
    model_id: str
    catalog_verdict: str
    crossmatches: list[CrossMatchOut]
    label: str | None
    label_note: str | None
    image: ImageOut


class AnnotationOut(BaseModel):
    id: int | None
    image_id: int
    provider: str
    model: str
    prompt_version: int
    text: str
    created_at: datetime


class ImageDetailOut(BaseModel):
    image: ImageOut
    candidate: CandidateOut | None
    annotations: list[AnnotationOut]


class ImagePage(BaseModel):
    items: list[ImageOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class CandidatePage(BaseModel):
    items: list[CandidateOut]
    total: int
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class PredictionOut(BaseModel):
    task: str
    run_id: int | None
    top: list[tuple[str, float]]


class AnalysisOut(BaseModel):
    candidate: CandidateOut
    predictions: list[PredictionOut]


class CrossRefOut(BaseModel):
    image_id: int
    catalog_verdict: str
    crossmatches: list[CrossMatchOut]


class LabelIn(BaseModel):
    image_id: int = Field(ge=1)
    value: Literal["tp", "fp", "unsure"]
    note: str = Field("", max_length=2000)


class LabelOut(BaseModel):
    image_id: int
    value: str
    note: str


class ScanIn(BaseModel):
    folders: list[str] = Field(min_length=1, max_length=50)


class ScanOut(BaseModel):
    scanning: list[str]


class StateOut(BaseModel):
    state: str


class AnnotateIn(BaseModel):
    provider: Literal["ollama", "openai"] | None = None
    model: str | None = Field(None, min_length=1, max_length=200)


class RunOut(BaseModel):
    id: int
    model_id: str
    status: str
    promoted: bool
    new_model: str | None
    data_description: str
    parameters: dict[str, Any]
    metrics_before: dict[str, float]
    metrics_after: dict[str, float]
    started_at: datetime
    finished_at: datetime | None


def image_out(r: ImageRecord) -> ImageOut:
    sky = r.provenance.sky
    return ImageOut(
        id=r.id,
        source=r.provenance.source_id,
        uri=r.provenance.uri,
        parent_uri=r.parent_uri,
        group=r.group.value,
        width=r.width,
        height=r.height,
        ra_deg=sky.ra_deg if sky else None,
        dec_deg=sky.dec_deg if sky else None,
        created_at=r.created_at,
        image_url=f"/images/{r.id}/image.png",
        thumbnail_url=f"/images/{r.id}/thumbnail.png",
    )


def crossmatch_out(m: CrossMatch) -> CrossMatchOut:
    return CrossMatchOut(
        service=m.service,
        catalog=m.catalog,
        status=m.status.value,
        reason=m.reason,
        radius_arcsec=m.radius_arcsec,
        checked_at=m.checked_at,
        objects=[
            CatalogObjectOut(
                name=o.name,
                type=o.object_type,
                separation_arcsec=o.separation_arcsec,
                redshift=o.redshift,
            )
            for o in m.objects
        ],
    )


def candidate_out(c: Candidate) -> CandidateOut:
    r = c.result
    return CandidateOut(
        id=c.id,
        verdict=r.verdict.value,
        score=r.score,
        p_value=r.p_value,
        rank_score=c.rank_score,
        explanation=r.explain(),
        detector_scores=dict(r.detector_scores),
        anomaly_p=r.thresholds.anomaly_p if r.thresholds else None,
        near_miss_p=r.thresholds.near_miss_p if r.thresholds else None,
        calibration_version=r.calibration_version,
        model_id=c.model_id,
        catalog_verdict=c.catalog_verdict.value,
        crossmatches=[crossmatch_out(m) for m in c.crossmatches],
        label=c.label.value.value if c.label else None,
        label_note=c.label.note if c.label else None,
        image=image_out(c.image),
    )


def annotation_out(a: Annotation) -> AnnotationOut:
    return AnnotationOut(
        id=a.id,
        image_id=a.image_id,
        provider=a.provider,
        model=a.model,
        prompt_version=a.prompt_version,
        text=a.text,
        created_at=a.created_at,
    )


def prediction_out(p: HeadPrediction) -> PredictionOut:
    return PredictionOut(task=p.task, run_id=p.run_id, top=[(n, float(v)) for n, v in p.top])


def run_out(r: TrainingRun) -> RunOut:
    return RunOut(
        id=r.id,
        model_id=r.model_id,
        status=r.status.value,
        promoted=r.promoted,
        new_model=r.new_model,
        data_description=r.data_description,
        parameters=dict(r.parameters),
        metrics_before=dict(r.metrics_before),
        metrics_after=dict(r.metrics_after),
        started_at=r.started_at,
        finished_at=r.finished_at,
    )
