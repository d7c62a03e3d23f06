"""Real domain candidates for the interop tests: with and without a position, a catalog
match, a label, and detectors that not every candidate has."""

from __future__ import annotations

from datetime import UTC, datetime

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogObject, CatalogVerdict, CrossMatch, MatchStatus
from astrolens.domain.images import ImageGroup, ImageRecord, Provenance
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.scoring import ScoreResult, Thresholds, Verdict
from astrolens.domain.sky import SkyPosition

THRESHOLDS = Thresholds(anomaly_p=0.001, near_miss_p=0.01)


def candidate(
    image_id: int,
    sky: SkyPosition | None,
    *,
    verdict: Verdict = Verdict.ANOMALY,
    detectors: dict[str, float] | None = None,
    match: CatalogObject | None = None,
    label: LabelValue | None = None,
    source_id: str = "sdss",
    uri: str | None = None,
    image_path: str | None = None,
    pixel_scale: float | None = 0.396,
) -> Candidate:
    provenance = Provenance(
        source_id=source_id,
        uri=uri or f"https://skyserver.sdss.org/dr18/cutout/{image_id}.jpg",
        survey="SDSS DR18",
        bands="gri",
        pixel_scale_arcsec=pixel_scale,
        sky=sky,
    )
    record = ImageRecord(
        id=image_id,
        content_hash=f"{image_id:064x}",
        perceptual_hash=f"{image_id:016x}",
        provenance=provenance,
        width=64,
        height=64,
        group=ImageGroup.SURVEY,
        created_at=datetime(2026, 11, 1, 12, 0),
        image_path=image_path,
    )
    result = ScoreResult(
        score=2.5 + image_id / 10,
        p_value=0.0005 if verdict is Verdict.ANOMALY else 0.005,
        verdict=verdict,
        detector_scores=detectors if detectors is not None else {"knn": 1.5, "mahalanobis": 3.0},
        calibration_version=2,
        thresholds=THRESHOLDS,
    )
    crossmatches: tuple[CrossMatch, ...] = ()
    cv = CatalogVerdict.NO_POSITION if sky is None else CatalogVerdict.POSSIBLE_DISCOVERY
    if match is not None:
        crossmatches = (CrossMatch("simbad", MatchStatus.MATCH, 10.0, (match,)),)
        cv = CatalogVerdict.KNOWN_OBJECT
    lab = Label(image_id, label, author="user", created_at=datetime.now(UTC)) if label else None
    return Candidate(record, result, "efficientnet-lite0", crossmatches, cv, lab)


def sample() -> list[Candidate]:
    m51 = CatalogObject("M  51", "Sy2", SkyPosition(202.4696, 47.1952), 2.3, service="simbad")
    return [
        candidate(1, SkyPosition(202.4696, 47.1953), match=m51, label=LabelValue.TRUE_POSITIVE),
        candidate(2, SkyPosition(150.1, 2.2), verdict=Verdict.NEAR_MISS),
        candidate(3, None, detectors={"knn": 0.7}, source_id="folder", uri="file:///tmp/x.png"),
        candidate(4, SkyPosition(359.99, -30.5), detectors={"energy": 4.0}),
    ]
