"""`astrolens ingest DIR`: merge a batch result into the store.

Candidates (anomalies, near-misses) become images with their score, vector and provenance,
so the window, `candidates`, labelling and cross-matching see them like any discovery. Their
files are decoded again here for the thumbnail and the stored copy (a few per thousand rows).
Normals are not inserted one by one (a survey has millions): their count and score
distribution are summarised in the store. Inserts go in transactions of `CHUNK` rows.
Ingesting the same result twice adds nothing (images are keyed by content).
"""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from astrolens.app.batch.run import MANIFEST_FILE
from astrolens.app.batch.shards import read_rows, shard_files
from astrolens.app.batch.worker import CANDIDATE_VERDICTS
from astrolens.domain.embedding import Embedding
from astrolens.domain.errors import ConfigurationError
from astrolens.domain.images import DecodedImage
from astrolens.domain.ports import Decoder, ImageStore
from astrolens.domain.scoring import ScoreResult, Thresholds, Verdict
from astrolens.domain.sky import SkyPosition

if TYPE_CHECKING:
    from astrolens.app.context import AstroLensApp

SOURCE_ID = "batch"
CHUNK = 1000
KEEP_ERRORS = 100  # listed in the stored summary; the shards keep them all


@dataclass
class IngestSummary:
    reference_id: str
    rows: int = 0
    normals: int = 0
    errors: int = 0
    candidates: int = 0
    added: int = 0
    already_stored: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # candidate files gone
    score_quantiles: dict[str, float] = field(default_factory=dict)
    summary_key: str = ""


def _candidate_result(row: dict[str, Any]) -> ScoreResult:
    thresholds = None
    if row.get("anomaly_p") is not None:
        thresholds = Thresholds(row["anomaly_p"], row["near_miss_p"])
    return ScoreResult(
        score=float(row["score"]),
        p_value=float(row["p_value"]),
        verdict=Verdict(row["verdict"]),
        detector_scores={
            k[len("det_") :]: float(v)
            for k, v in row.items()
            if k.startswith("det_") and v is not None
        },
        calibration_version=int(row["calibration_version"]),
        thresholds=thresholds,
    )


def _with_provenance(image: DecodedImage, row: dict[str, Any], batch: str) -> DecodedImage:
    prov = image.provenance
    sky = prov.sky
    if sky is None and row.get("ra") is not None and row.get("dec") is not None:
        sky = SkyPosition(float(row["ra"]), float(row["dec"]))
    extra = {
        **prov.extra,
        "batch": batch,
        "reference_id": row["reference_id"],
        "calibration_version": row["calibration_version"],
        "partition": row["partition"],
    }
    provenance = dataclasses.replace(prov, source_id=SOURCE_ID, sky=sky, extra=extra)
    return dataclasses.replace(image, provenance=provenance)


def _quantiles(scores: np.ndarray) -> dict[str, float]:
    if len(scores) == 0:
        return {}
    qs = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
    out = {name: float(np.quantile(scores, q)) for name, q in qs.items()}
    out["max"] = float(scores.max())
    return out


def _read(decoder: Decoder, path: Path) -> tuple[DecodedImage, bytes]:
    """The image as the worker saw it, and the file's bytes for the stored copy."""
    from astrolens.services.batch_score import _decode_whole

    return _decode_whole(decoder, path), path.read_bytes()


def ingest(app: AstroLensApp, output: Path) -> IngestSummary:
    from astrolens.domain.writes import NewImage, StoredImage

    manifest_path = output / MANIFEST_FILE
    if not manifest_path.is_file() or not shard_files(output):
        raise ConfigurationError(f"{output} holds no batch result (no {MANIFEST_FILE} or shards)")
    manifest = json.loads(manifest_path.read_text())
    table = read_rows(output)
    ids = set(table.column("reference_id").unique().to_pylist()) - {None}
    if ids - {manifest["reference_id"]}:
        raise ConfigurationError(
            f"{output}: shards of several reference models ({', '.join(sorted(ids))}); "
            "each batch result must come from one"
        )
    summary = IngestSummary(reference_id=manifest["reference_id"], rows=table.num_rows)
    verdicts = table.column("verdict").to_pylist()
    summary.errors = sum(1 for v in verdicts if v == "error")
    summary.normals = sum(1 for v in verdicts if v == Verdict.NORMAL.value)
    scores = np.array([s for s in table.column("score").to_pylist() if s is not None])
    summary.score_quantiles = _quantiles(scores)

    rows = [
        row
        for row in table.filter(_is_candidate(table)).to_pylist()
        if row["verdict"] in CANDIDATE_VERDICTS
    ]
    summary.candidates = len(rows)
    batch = output.resolve().name
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        futures: list[Future[tuple[DecodedImage, bytes]]] = [
            app.executors.io.submit(_read, app.decoder, Path(r["uri"])) for r in chunk
        ]
        inputs: list[NewImage] = []
        for row, future in zip(chunk, futures, strict=True):
            try:
                image, original = future.result()
            except Exception as exc:
                summary.unreadable.append((row["uri"], str(exc)))
                continue
            if row.get("content_hash") and image.content_hash != row["content_hash"]:
                summary.unreadable.append((row["uri"], "the file changed since it was scored"))
                continue
            image = _with_provenance(image, row, batch)
            image_path, thumb_path = app.executors.io.submit(
                app.blobs.put_image, image, original
            ).result()
            vector = np.asarray(row["embedding"], dtype=np.float32)
            inputs.append(
                NewImage(
                    image=image,
                    image_path=image_path,
                    thumbnail_path=thumb_path,
                    embedding=Embedding(row["model_id"], vector),
                    model_id=row["model_id"],
                    result=_candidate_result(row),
                )
            )

        def add(repo: ImageStore, items: list[NewImage] = inputs) -> list[StoredImage]:
            return repo.add_scored_images(items)

        stored = app.db(add)
        # A duplicate (the same content, or a look-alike of the same object) is recorded as a
        # sighting of what is stored, as a scan would.
        summary.added += sum(1 for s in stored if not s.duplicate)
        summary.already_stored += sum(1 for s in stored if s.duplicate)

    summary.summary_key = f"batch:{summary.reference_id}:{batch}"
    uris, reasons = table.column("uri").to_pylist(), table.column("error").to_pylist()
    errors = [(u, e) for u, e in zip(uris, reasons, strict=True) if e]
    record = {
        "output": str(output.resolve()),
        "reference_id": summary.reference_id,
        "model_id": manifest["model_id"],
        "rows": summary.rows,
        "normals": summary.normals,
        "candidates": summary.candidates,
        "errors": summary.errors,
        "error_examples": errors[:KEEP_ERRORS],
        "score_quantiles": summary.score_quantiles,
    }
    app.db(lambda repo: repo.set_value(summary.summary_key, json.dumps(record)))
    return summary


def _is_candidate(table: Any) -> Any:
    import pyarrow.compute as pc

    return pc.is_in(table.column("verdict"), value_set=_pa_strings(CANDIDATE_VERDICTS))


def _pa_strings(values: tuple[str, ...]) -> Any:
    import pyarrow as pa

    return pa.array(list(values), pa.string())
