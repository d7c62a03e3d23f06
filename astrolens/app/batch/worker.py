"""What runs on a Dask worker: decode, embed and score one partition, write its shard.

A worker process keeps one embedder (and decoder) for its life, keyed by the reference's
embedder spec, so the ONNX/torch model loads once per worker, not once per partition. A file
that cannot be read or embedded becomes a row with an `error`; only a failure to write the
shard fails the task (and Dask retries it).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from astrolens.app.batch.plan import Partition, WorkItem
from astrolens.app.batch.reference import ReferenceModel
from astrolens.app.batch.shards import shard_schema, write_shard
from astrolens.domain.images import DecodedImage, FloatImage
from astrolens.domain.ports import Decoder, Embedder

EMBED_BATCH = 32
CANDIDATE_VERDICTS = ("anomaly", "near_miss")

_lock = threading.Lock()
_models: dict[str, tuple[Decoder, Embedder]] = {}


@dataclass(frozen=True, slots=True)
class PartitionResult:
    """What the client hears back: a few numbers, never the rows (those are in the shard)."""

    index: int
    rows: int
    errors: int
    candidates: int
    seconds: float
    worker: str
    pid: int
    rss_bytes: int


def _worker_threads() -> int:
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return 1


def _models_for(ref: ReferenceModel) -> tuple[Decoder, Embedder]:
    """(decoder, embedder) of this process, built on first use."""
    with _lock:
        if ref.embedder_spec not in _models:
            from astrolens.imaging.decoder import ImageDecoder
            from astrolens.ml.embedders.registry import create_embedder
            from astrolens.ml.features.multiview import product_view

            # One model thread per worker thread: a worker is sized as "one core".
            threads = str(_worker_threads())
            os.environ.setdefault("ASTROLENS_ML_THREADS", threads)
            os.environ.setdefault("ASTROLENS_TORCH_THREADS", threads)
            backbone = create_embedder(
                ref.embedder_spec,
                models_dir=Path(ref.models_dir),
                search_dirs=[Path(p) for p in ref.search_dirs],
            )
            embedder = product_view(backbone)
            if embedder.model_id != ref.model_id:
                raise RuntimeError(
                    f"this worker builds {embedder.model_id!r}, the reference needs "
                    f"{ref.model_id!r}: install the same model on every worker"
                )
            _models[ref.embedder_spec] = (ImageDecoder(), embedder)
        return _models[ref.embedder_spec]


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, OSError | ValueError) else f"{type(exc).__name__}: {text}"


def _decode(decoder: Decoder, item: WorkItem) -> DecodedImage:
    from astrolens.services.batch_score import _decode_whole

    return _decode_whole(decoder, Path(item.uri))


def _embed(embedder: Embedder, pixels: Sequence[FloatImage]) -> list[np.ndarray | Exception]:
    """Vectors in batches; a batch that fails is retried one image at a time, so one odd
    image costs only its own row."""
    out: list[np.ndarray | Exception] = []
    for start in range(0, len(pixels), EMBED_BATCH):
        chunk = pixels[start : start + EMBED_BATCH]
        try:
            out.extend(embedder.embed(list(chunk)))
        except Exception:
            for one in chunk:
                try:
                    out.append(embedder.embed([one])[0])
                except Exception as exc:
                    out.append(exc)
    return out


def _base_row(ref: ReferenceModel, part: Partition, item: WorkItem) -> dict[str, Any]:
    return {
        "uri": item.uri,
        "partition": part.index,
        "ra": item.ra,
        "dec": item.dec,
        "model_id": ref.model_id,
        "calibration_version": ref.calibration_version,
        "reference_id": ref.reference_id,
    }


def _decode_into(decoder: Decoder, item: WorkItem, row: dict[str, Any]) -> DecodedImage | None:
    """The decoded image, or None with the reason in the row."""
    if item.error:
        row["error"] = item.error
        return None
    try:
        image = _decode(decoder, item)
    except Exception as exc:  # any unreadable file is a row, never a crashed job
        row["error"] = _error_text(exc)
        return None
    sky = image.provenance.sky
    if sky is not None and row["ra"] is None:
        row["ra"], row["dec"] = sky.ra_deg, sky.dec_deg
    row["content_hash"] = image.content_hash
    return image


def score_rows(ref: ReferenceModel, part: Partition) -> list[dict[str, Any]]:
    """Every item of the partition as one row, in the partition's order.

    Decoded in slices of EMBED_BATCH that are embedded and dropped at once: a worker holds
    32 images' pixels at a time, not a whole partition's (memory stays flat per worker
    whatever the partition size or cutout size)."""
    decoder, embedder = _models_for(ref)
    rows: list[dict[str, Any]] = [_base_row(ref, part, item) for item in part.items]
    scored: list[tuple[int, np.ndarray]] = []
    for start in range(0, len(part.items), EMBED_BATCH):
        decoded = [
            (i, image)
            for i in range(start, min(start + EMBED_BATCH, len(part.items)))
            if (image := _decode_into(decoder, part.items[i], rows[i])) is not None
        ]
        vectors = _embed(embedder, [image.pixels for _, image in decoded])
        for (i, _), vector in zip(decoded, vectors, strict=True):
            if isinstance(vector, Exception):
                rows[i]["error"] = _error_text(vector)
            else:
                scored.append((i, np.asarray(vector, dtype=np.float32)))
    if scored:
        matrix = np.stack([v for _, v in scored])
        results = ref.scorer().score(matrix)
        for (i, vector), result in zip(scored, results, strict=True):
            verdict = result.verdict.value
            rows[i].update(
                score=result.score,
                p_value=result.p_value,
                verdict=verdict,
                anomaly_p=result.thresholds.anomaly_p if result.thresholds else None,
                near_miss_p=result.thresholds.near_miss_p if result.thresholds else None,
                embedding=vector.tolist() if verdict in CANDIDATE_VERDICTS else None,
            )
            rows[i].update({f"det_{k}": v for k, v in result.detector_scores.items()})
    for row in rows:
        if row.get("error"):
            row["verdict"] = "error"
    return rows


def score_partition(ref: ReferenceModel, part: Partition, shard: str) -> PartitionResult:
    """The Dask task: score the partition and write its shard (atomically)."""
    started = time.perf_counter()
    rows = score_rows(ref, part)
    write_shard(Path(shard), rows, shard_schema(ref.detector_names))
    return PartitionResult(
        index=part.index,
        rows=len(rows),
        errors=sum(1 for r in rows if r.get("error")),
        candidates=sum(1 for r in rows if r.get("verdict") in CANDIDATE_VERDICTS),
        seconds=time.perf_counter() - started,
        worker=_worker_address(),
        pid=os.getpid(),
        rss_bytes=_rss_bytes(),
    )


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid-{os.getpid()}"


def _rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        return 0
