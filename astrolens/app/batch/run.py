"""The client side of `astrolens batch`: reference, plan, submit what is missing, summarise.

Resumable at the partition level: a partition whose shard exists is not submitted again. The
manifest (`batch.json`) pins the reference model and the inputs of an output folder, so a rerun
with another reference or other inputs is refused instead of mixing two models in one result.
Dask retries a partition whose worker died (the scheduler reschedules it) and, with `retries`,
one whose task raised; a partition that still fails is reported, and the next run retries it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrolens.app.batch.plan import (
    PLAN_FILE,
    Partition,
    WorkItem,
    collect_items,
    inputs_digest,
    partition,
    read_plan,
    write_plan,
)
from astrolens.app.batch.reference import (
    ReferenceModel,
    build_reference,
    load_reference,
    save_reference,
)
from astrolens.app.batch.shards import shard_path, sweep_temp_files, written_partitions
from astrolens.app.batch.worker import PartitionResult, score_partition
from astrolens.domain.errors import AstroLensError, ConfigurationError

if TYPE_CHECKING:
    from distributed import Client

    from astrolens.app.context import AstroLensApp
    from astrolens.sources.legacy_survey import LegacySurveyConfig

MANIFEST_FILE = "batch.json"
MANIFEST_FORMAT = 1
DEFAULT_PARTITION_SIZE = 256
TASK_RETRIES = 2

ProgressCallback = Callable[[int, int], None]  # (partitions done, partitions to do)


@dataclass
class WorkerRate:
    rows: int = 0
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class BatchSummary:
    output: Path
    reference_id: str
    partitions: int = 0
    skipped: int = 0  # shards a previous run wrote
    scored_partitions: int = 0
    failed_partitions: dict[int, str] = field(default_factory=dict)
    rows: int = 0
    errors: int = 0
    candidates: int = 0
    seconds: float = 0.0
    workers: dict[str, WorkerRate] = field(default_factory=dict)
    peak_rss: dict[int, int] = field(default_factory=dict)  # worker pid -> largest RSS seen

    @property
    def images_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def per_worker_images_per_s(self) -> float:
        """Images per second of one worker while it works (rows / busy seconds)."""
        busy = sum(w.seconds for w in self.workers.values())
        return sum(w.rows for w in self.workers.values()) / busy if busy > 0 else 0.0

    def add(self, result: PartitionResult) -> None:
        self.scored_partitions += 1
        self.rows += result.rows
        self.errors += result.errors
        self.candidates += result.candidates
        rate = self.workers.setdefault(result.worker, WorkerRate())
        rate.rows += result.rows
        rate.seconds += result.seconds
        self.peak_rss[result.pid] = max(self.peak_rss.get(result.pid, 0), result.rss_bytes)


def _manifest(output: Path) -> dict[str, Any] | None:
    path = output / MANIFEST_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _write_manifest(output: Path, data: dict[str, Any]) -> None:
    path = output / MANIFEST_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def prepare(
    app: AstroLensApp,
    reference_dir: Path,
    inputs: Sequence[Path],
    output: Path,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    source_config: LegacySurveyConfig | None = None,
    on_fetch: Callable[[int, int], None] | None = None,
) -> tuple[ReferenceModel, list[Partition]]:
    """The reference model and the plan of `output`: made on the first run, reused after."""
    output.mkdir(parents=True, exist_ok=True)
    digest = inputs_digest(inputs)
    manifest = _manifest(output)
    if manifest is not None:
        if manifest.get("inputs_digest") != digest:
            raise ConfigurationError(
                f"{output} holds a batch of other inputs ({', '.join(manifest['inputs'])}); "
                "use a new --output folder"
            )
        ref = load_reference(output)
        if ref is None or not (output / PLAN_FILE).is_file():
            raise ConfigurationError(f"{output}: batch.json without its reference or plan")
        if ref.reference_dir != str(reference_dir.resolve()):
            raise ConfigurationError(
                f"{output} was scored against {ref.reference_dir}, not {reference_dir}; "
                "use a new --output folder"
            )
        if ref.embedder_spec != app.settings.model:
            raise ConfigurationError(
                f"{output} was scored with the model {ref.embedder_spec!r}, not "
                f"{app.settings.model!r}; use a new --output folder"
            )
        return ref, read_plan(output / PLAN_FILE)

    def fetch_catalog(catalog: Path) -> list[WorkItem]:
        from astrolens.app.batch.targets import fetch_target_cutouts

        return fetch_target_cutouts(
            app, catalog, output, source_config, on_fetch or (lambda done, total: None)
        )

    items = collect_items(inputs, fetch_catalog)
    if not items:
        raise AstroLensError("no images found in the inputs")
    ref = build_reference(app, reference_dir)
    parts = partition(items, partition_size)
    save_reference(ref, output)
    write_plan(parts, output / PLAN_FILE)
    _write_manifest(
        output,
        {
            "format": MANIFEST_FORMAT,
            "reference_id": ref.reference_id,
            "model_id": ref.model_id,
            "inputs": [str(p.resolve()) for p in inputs],
            "inputs_digest": digest,
            "images": len(items),
            "partitions": len(parts),
            "partition_size": partition_size,
            "created_at": datetime.now(UTC).isoformat(),
        },
    )
    return ref, parts


def run_partitions(
    client: Client,
    ref: ReferenceModel,
    parts: Sequence[Partition],
    output: Path,
    on_progress: ProgressCallback | None = None,
) -> BatchSummary:
    """Submit every partition without a shard; wait for all; never raise for one partition."""
    from distributed import as_completed

    summary = BatchSummary(output=output, reference_id=ref.reference_id, partitions=len(parts))
    sweep_temp_files(output)
    done = written_partitions(output)
    todo = [p for p in parts if p.index not in done]
    summary.skipped = len(parts) - len(todo)
    started = time.perf_counter()
    if on_progress:
        on_progress(0, len(todo))
    if todo:
        # Shipped once to every worker (not once per task): the fitted state is megabytes.
        shipped = client.scatter(ref, broadcast=True, hash=False)
        futures = [
            client.submit(
                score_partition,
                shipped,
                part,
                str(shard_path(output, part.index)),
                key=f"astrolens-partition-{ref.reference_id}-{part.index}",
                retries=TASK_RETRIES,
            )
            for part in todo
        ]
        by_key = {f.key: part.index for f, part in zip(futures, todo, strict=True)}
        for count, future in enumerate(as_completed(futures), start=1):
            try:
                summary.add(future.result())
            except Exception as exc:  # KilledWorker after too many deaths, a disk error, ...
                summary.failed_partitions[by_key[future.key]] = f"{type(exc).__name__}: {exc}"
            finally:
                future.release()
            if on_progress:
                on_progress(count, len(todo))
    summary.seconds = time.perf_counter() - started
    sweep_temp_files(output)  # a worker killed while writing left one; its task ran again
    return summary
