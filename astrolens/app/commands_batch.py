"""`astrolens batch` (score a survey on Dask, write Parquet shards) and `astrolens ingest`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from astrolens.app.arguments import require_paths
from astrolens.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from astrolens.app.batch.run import BatchSummary

EXIT_PARTIAL = 1  # some partitions failed: rerun to retry them


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_common: Callable[[argparse.ArgumentParser], None],
) -> None:
    from astrolens.app.batch.run import DEFAULT_PARTITION_SIZE

    batch = sub.add_parser(
        "batch",
        help="score many images on a Dask cluster, writing Parquet shards "
        "(needs: pip install 'astrolens[cluster]')",
        description="Fit the reference once, then decode, embed and score INPUTs (folders, "
        "images, .txt/.lst files listing paths one per line, or .csv target catalogs with "
        "ra/dec columns, whose Legacy Survey cutouts are fetched first, politely) on Dask "
        "workers. Rerun the same command to resume: shards already written are skipped.",
    )
    add_common(batch)
    batch.add_argument("--reference", type=Path, required=True, metavar="REF_DIR")
    where = batch.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler", metavar="ADDR", help="an existing Dask scheduler, e.g. tcp://host:8786"
    )
    where.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: one per core)"
    )
    batch.add_argument("--output", type=Path, required=True, metavar="DIR")
    batch.add_argument(
        "--partition-size",
        type=int,
        default=DEFAULT_PARTITION_SIZE,
        metavar="N",
        help="images per task and per shard (first run only)",
    )
    batch.add_argument("--model", help="embedder spec (default: settings)")
    batch.add_argument("--aggressive", action="store_true", help="looser FDR")
    batch.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")

    ingest = sub.add_parser(
        "ingest", help="merge a batch result into the store: candidates become reviewable"
    )
    add_common(ingest)
    ingest.add_argument("output", type=Path, metavar="DIR")


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True, stderr=True)


@contextmanager
def _progress(console: Console, what: str) -> Iterator[Callable[[int, int], None]]:
    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = bar.add_task("batch", total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _summary_table(console: Console, summary: BatchSummary) -> None:
    table = Table(title="Batch", show_header=True)
    table.add_column("worker")
    table.add_column("images", justify="right")
    table.add_column("busy s", justify="right")
    table.add_column("images/s", justify="right")
    for name, rate in sorted(summary.workers.items()):
        table.add_row(name, str(rate.rows), f"{rate.seconds:.1f}", f"{rate.images_per_s:.1f}")
    if summary.workers:
        console.print(table)
    console.print(
        f"{summary.rows} images in {summary.seconds:.1f} s: {summary.images_per_s:.1f} images/s, "
        f"{summary.per_worker_images_per_s:.1f} images/s per worker; "
        f"{summary.candidates} candidates, {summary.errors} unreadable "
        f"(the `error` column says why)"
    )
    console.print(
        f"partitions: {summary.partitions} in all, {summary.skipped} already written, "
        f"{summary.scored_partitions} scored now, {len(summary.failed_partitions)} failed"
    )
    for index, reason in sorted(summary.failed_partitions.items())[:10]:
        console.print(f"  [red]partition {index} failed[/]: {reason}")
    if summary.failed_partitions:
        console.print("Run the same command again to retry the failed partitions.")
    console.print(f"shards in {summary.output}; merge them with: astrolens ingest {summary.output}")


def batch(args: argparse.Namespace) -> int:
    from astrolens.app.batch import require_cluster_extra

    require_cluster_extra()
    from astrolens.app.batch.cluster import open_client
    from astrolens.app.batch.plan import is_catalog
    from astrolens.app.batch.run import prepare, run_partitions
    from astrolens.app.context import AppOptions, AstroLensApp

    reference = require_paths([args.reference])[0]
    if not reference.is_dir():
        raise ConfigurationError(f"--reference must be a folder: {reference}")
    inputs = require_paths(args.inputs)
    if args.workers is not None and args.workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    console = _console()
    app = AstroLensApp(
        options=AppOptions(aggressive=True if args.aggressive else None, model=args.model)
    )
    try:
        console.print("planning, and fitting the reference model (once per output folder)…")
        what = "fetching catalog cutouts" if any(map(is_catalog, inputs)) else "planning"
        with _progress(console, what) as on_fetch:
            ref, parts = prepare(
                app, reference, inputs, args.output, args.partition_size, on_fetch=on_fetch
            )
    finally:
        app.close()
    console.print(
        f"reference {ref.reference_id}: {ref.reference_size} images, model {ref.model_id}; "
        f"{sum(len(p.items) for p in parts)} images in {len(parts)} partitions"
    )
    with open_client(args.scheduler, args.workers) as client:
        workers = len(client.scheduler_info().get("workers", {}))
        assert client.scheduler is not None  # a connected client talks to its scheduler
        console.print(f"Dask scheduler {client.scheduler.address} with {workers} workers")
        with _progress(console, "scoring partitions") as on_progress:
            summary = run_partitions(client, ref, parts, args.output, on_progress)
    _summary_table(console, summary)
    return EXIT_PARTIAL if summary.failed_partitions else 0


def ingest(args: argparse.Namespace) -> int:
    from astrolens.app.batch import require_cluster_extra

    require_cluster_extra()
    from astrolens.app.batch.ingest import ingest as run_ingest
    from astrolens.app.context import AstroLensApp

    output = require_paths([args.output])[0]
    app = AstroLensApp()
    try:
        summary = run_ingest(app, output)
    finally:
        app.close()
    out = sys.stdout
    print(
        f"ingested {output}: {summary.rows} rows; {summary.added} candidates added "
        f"({summary.already_stored} already stored), {summary.normals} normals summarised, "
        f"{summary.errors} unreadable",
        file=out,
    )
    if summary.score_quantiles:
        q = summary.score_quantiles
        print(
            "scores: " + ", ".join(f"{k} {v:.3f}" for k, v in q.items()),
            file=out,
        )
    for uri, reason in summary.unreadable[:10]:
        print(f"  not added (file unreadable now): {uri}: {reason}", file=out)
    print("review them with: astrolens candidates (or in the window)", file=out)
    return 0
