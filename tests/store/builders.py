"""Small factories for store tests: real domain objects with deterministic content."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from astrolens.domain.candidates import Candidate
from astrolens.domain.embedding import Embedding
from astrolens.domain.images import DecodedImage, ImageGroup, Provenance
from astrolens.domain.scoring import ScoreResult, Thresholds, Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.domain.writes import NewImage

MODEL = "efficientnet-lite0"
DIM = 8
THRESHOLDS = Thresholds(anomaly_p=0.001, near_miss_p=0.01)
DEFAULT_SKY = SkyPosition(150.0, 2.0)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def original_bytes(seed: int, size: int = 2048) -> bytes:
    """Stand-in file content: a FITS-like header then seeded noise (unique per seed)."""
    rng = np.random.default_rng(seed)
    return b"SIMPLE  =                    T" + rng.bytes(size)


def decoded(
    seed: int,
    *,
    source_id: str = "sdss",
    group: ImageGroup = ImageGroup.SURVEY,
    sky: SkyPosition | None = DEFAULT_SKY,
    phash: str | None = None,
    uri: str | None = None,
    parent_uri: str | None = None,
    original: bytes | None = None,
    shape: tuple[int, ...] = (16, 16),
) -> DecodedImage:
    data = original if original is not None else original_bytes(seed)
    rng = np.random.default_rng(seed)
    return DecodedImage(
        provenance=Provenance(
            source_id=source_id,
            uri=uri or f"https://example.test/{source_id}/{seed}.fits",
            survey="SDSS DR17",
            bands="gri",
            pixel_scale_arcsec=0.396,
            sky=sky,
            extra={"run": seed, "airmass": np.float32(1.25)},
        ),
        pixels=rng.random(shape, dtype=np.float32),
        content_hash=hashlib.sha256(data).hexdigest(),
        perceptual_hash=phash or f"{seed:016x}",
        group=group,
        parent_uri=parent_uri,
        stamp_xy=(3.5, 4.5),
        object_size_px=12.0,
    )


def embedding(seed: int, model: str = MODEL, dim: int = DIM) -> Embedding:
    vector = np.random.default_rng(10_000 + seed).standard_normal(dim).astype(np.float32)
    return Embedding(model, vector / np.linalg.norm(vector))


def result(verdict: Verdict, score: float = 1.0, p_value: float | None = None) -> ScoreResult:
    p = (
        p_value
        if p_value is not None
        else {"anomaly": 0.0005, "near_miss": 0.005}.get(verdict, 0.4)
    )
    return ScoreResult(
        score=score,
        p_value=p,
        verdict=verdict,
        detector_scores={"knn": score * 2, "mahalanobis": score / 2},
        calibration_version=3,
        thresholds=THRESHOLDS,
    )


def far_phash(k: int) -> str:
    """Perceptual hashes at least 32 bits apart, so only content makes duplicates."""
    return f"{int(np.random.default_rng(k).integers(0, 2**63)):016x}"


def new_image(seed: int, verdict: Verdict | None, **kw: object) -> NewImage:
    """One item of an `add_scored_images` batch, scored `verdict` (None: not scored yet)."""
    image = decoded(seed, phash=far_phash(seed), **kw)  # type: ignore[arg-type]
    scored = result(verdict, float(seed)) if verdict is not None else None
    return NewImage(image, None, None, embedding(seed), MODEL, scored)


def names(repo_ids: dict[str, int], candidates: Sequence[Candidate]) -> list[str]:
    """The gallery fixture's names of these candidates, in order."""
    by_id = {v: k for k, v in repo_ids.items()}
    return [by_id[c.id] for c in candidates]
