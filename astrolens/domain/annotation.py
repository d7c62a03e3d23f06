"""LLM annotations of a candidate: the record kept, the ways asking can fail, and the prompt.

The prompt is built here (pure) so the Ollama and OpenAI clients send the same words and a
stored annotation can say which prompt produced it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from astrolens.domain.candidates import Candidate
from astrolens.domain.errors import AstroLensError

# Bump when the wording below changes: stored annotations keep the version they were asked with.
PROMPT_VERSION = 1
PROVIDERS = ("ollama", "openai")

SYSTEM_PROMPT = (
    "You are an assistant to an astronomer reviewing images that an anomaly detector flagged. "
    "Answer in plain text, at most 150 words, in three short parts: "
    "1. Morphology: what the object looks like. "
    "2. Artefact?: whether it looks like an instrumental artefact (satellite trail, "
    "diffraction spike, bad column, ghost) and why. "
    "3. Next: what to check next. Say so when the image is too small or unclear to judge."
)


class AnnotationFailure(enum.StrEnum):
    """Why no annotation came back; each has one sentence the user can act on."""

    NOT_RUNNING = "not_running"
    MODEL_MISSING = "model_missing"
    NO_KEY = "no_key"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    NO_VISION = "no_vision"
    EMPTY = "empty"
    BAD_RESPONSE = "bad_response"
    NO_IMAGE = "no_image"


class AnnotationError(AstroLensError):
    """Asking the model failed: `kind` says how, the message says what to do."""

    exit_code = 4

    def __init__(self, kind: AnnotationFailure, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Annotation:
    image_id: int
    provider: str
    model: str
    prompt_version: int
    text: str
    created_at: datetime
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AnnotationRequest:
    """What a provider client sends: the words, and the image as PNG bytes."""

    system: str
    prompt: str
    png: bytes


def describe_candidate(candidate: Candidate) -> str:
    """The facts the model gets with the image: scores, p-value, catalog matches."""
    r = candidate.result
    lines = [
        f"Candidate #{candidate.id}: verdict {r.verdict.value}, ensemble score {r.score:.3f}, "
        f"calibrated p-value {r.p_value:.3g}.",
    ]
    if r.detector_scores:
        dets = ", ".join(f"{k} {v:.3f}" for k, v in sorted(r.detector_scores.items()))
        lines.append(f"Detector scores (higher is more unusual): {dets}.")
    prov = candidate.image.provenance
    where = f"source {prov.source_id}"
    if prov.survey:
        where += f", survey {prov.survey}"
    if prov.bands:
        where += f", bands {prov.bands}"
    if prov.pixel_scale_arcsec:
        where += f", {prov.pixel_scale_arcsec:.3g} arcsec/pixel"
    if prov.sky is not None:
        where += f", RA {prov.sky.ra_deg:.5f} Dec {prov.sky.dec_deg:+.5f} deg"
    lines.append(f"Image: {candidate.image.width}x{candidate.image.height} px, {where}.")
    if candidate.image.parent_uri:
        lines.append("It is a stamp cut around one source of a larger frame.")
    lines.append(f"Catalog verdict: {candidate.catalog_verdict.value}.")
    for m in candidate.crossmatches:
        line = f"- {m.service}: {m.status.value}"
        if m.reason:
            line += f" ({m.reason})"
        objs = "; ".join(
            f"{o.name} type {o.object_type or '?'} at {o.separation_arcsec:.1f} arcsec"
            + (f", z={o.redshift:.3g}" if o.redshift is not None else "")
            for o in m.objects[:3]
        )
        lines.append(line + (f": {objs}" if objs else ""))
    lines.append(
        "Describe the morphology briefly, say whether it looks like an artefact (satellite "
        "trail, diffraction spike, bad column, ghost), and what to check next."
    )
    return "\n".join(lines)


def build_request(candidate: Candidate, png: bytes) -> AnnotationRequest:
    if not png:
        raise AnnotationError(
            AnnotationFailure.NO_IMAGE, f"candidate #{candidate.id} has no stored image to show"
        )
    return AnnotationRequest(SYSTEM_PROMPT, describe_candidate(candidate), png)
