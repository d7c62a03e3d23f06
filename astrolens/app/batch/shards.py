"""Parquet shards: one per partition, named by its index, written whole or not at all.

A shard is written to a temporary name and renamed into place, so a killed worker leaves a
temp file (swept on the next run) and never half a shard; a finished shard is never written
again (the client skips its partition). The name is the partition's, so Dask retrying a
partition overwrites the same shard with the same rows: each row lands exactly once.

Columns: uri, partition, ra, dec, score, p_value, verdict, anomaly_p and near_miss_p (the
thresholds the verdict used), one `det_<name>` per detector,
model_id, calibration_version, reference_id, error, content_hash, embedding. The embedding is
kept for candidates only (anomalies, near-misses): ingest stores it so labels and re-ranking
work on them, while normals (the bulk) cost ~100 bytes a row instead of 5 kB.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SHARDS_DIR = "shards"
SHARD_SUFFIX = ".parquet"


def shard_name(index: int) -> str:
    return f"part-{index:06d}{SHARD_SUFFIX}"


def shard_path(output: Path, index: int) -> Path:
    return output / SHARDS_DIR / shard_name(index)


def shard_schema(detector_names: Sequence[str]) -> Any:
    import pyarrow as pa

    fields = [
        pa.field("uri", pa.string()),
        pa.field("partition", pa.int32()),
        pa.field("ra", pa.float64()),
        pa.field("dec", pa.float64()),
        pa.field("score", pa.float64()),
        pa.field("p_value", pa.float64()),
        pa.field("verdict", pa.string()),
        pa.field("anomaly_p", pa.float64()),
        pa.field("near_miss_p", pa.float64()),
        *(pa.field(f"det_{name}", pa.float64()) for name in detector_names),
        pa.field("model_id", pa.string()),
        pa.field("calibration_version", pa.int32()),
        pa.field("reference_id", pa.string()),
        pa.field("error", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("embedding", pa.list_(pa.float32())),
    ]
    return pa.schema(fields)


def write_shard(path: Path, rows: Sequence[dict[str, Any]], schema: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(list(rows), schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def written_partitions(output: Path) -> set[int]:
    folder = output / SHARDS_DIR
    if not folder.is_dir():
        return set()
    return {
        int(p.name[len("part-") : -len(SHARD_SUFFIX)]) for p in folder.glob(f"part-*{SHARD_SUFFIX}")
    }


def sweep_temp_files(output: Path) -> int:
    """Temp files a killed worker left behind; they never count as shards."""
    folder = output / SHARDS_DIR
    count = 0
    if folder.is_dir():
        for tmp in folder.glob(".part-*.tmp"):
            tmp.unlink(missing_ok=True)
            count += 1
    return count


def shard_files(output: Path) -> list[Path]:
    return sorted((output / SHARDS_DIR).glob(f"part-*{SHARD_SUFFIX}"))


def read_rows(output: Path, columns: Iterable[str] | None = None) -> Any:
    """All shards as one pyarrow Table (the client and ingest read them; workers never do)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = shard_files(output)
    if not files:
        return pa.table({})
    wanted = list(columns) if columns is not None else None
    return pa.concat_tables(pq.read_table(f, columns=wanted) for f in files)
