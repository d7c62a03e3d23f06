"""What a batch will score, cut into partitions, written once so a rerun sees the same cut.

Inputs are folders (recursive), files listing one path per line (.txt/.lst), single images,
or target catalogs (.csv/.ecsv with ra/dec columns; their cutouts are fetched first, see
targets.py). The plan is stored as `plan.parquet` in the output folder: a rerun reads it back
instead of listing the inputs again, so a file added since cannot shift rows between
partitions (that would write a row twice or not at all).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from astrolens.domain.errors import ConfigurationError
from astrolens.services.batch_score import list_images

PLAN_FILE = "plan.parquet"
LIST_SUFFIXES = (".txt", ".lst")
CATALOG_SUFFIXES = (".csv", ".ecsv")


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One image to score: a path or URI, and the sky position a catalog gave it (if any)."""

    uri: str
    ra: float | None = None
    dec: float | None = None
    error: str | None = None  # known before scoring (a cutout that could not be fetched)


@dataclass(frozen=True, slots=True)
class Partition:
    index: int
    items: tuple[WorkItem, ...]


def read_file_list(path: Path) -> list[Path]:
    """One path per line; blank lines and `#` comments skipped; relative to the list file."""
    found: list[Path] = []
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        entry = Path(text).expanduser()
        found.append(entry if entry.is_absolute() else path.parent / entry)
    return found


def is_catalog(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in CATALOG_SUFFIXES


def collect_items(
    inputs: Sequence[Path], fetch_catalog: Callable[[Path], list[WorkItem]] | None = None
) -> list[WorkItem]:
    """Every image the inputs name, each once, in a stable order (`fetch_catalog` turns a
    target catalog into fetched cutouts; see targets.py).

    A listed file that does not exist still becomes an item: the worker turns it into an error
    row, so the summary says which line of the list was wrong instead of dropping it quietly.
    """
    items: list[WorkItem] = []
    for path in inputs:
        if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            items.extend(WorkItem(str(p)) for p in read_file_list(path))
        elif is_catalog(path):
            if fetch_catalog is None:
                raise ConfigurationError(f"{path}: target catalogs need their cutouts fetched")
            items.extend(fetch_catalog(path))
        else:
            items.extend(WorkItem(str(p)) for p in list_images([path]))
    return list(dict.fromkeys(items))


def partition(items: Sequence[WorkItem], size: int) -> list[Partition]:
    if size < 1:
        raise ConfigurationError(f"--partition-size must be at least 1, not {size}")
    return [
        Partition(i, tuple(items[start : start + size]))
        for i, start in enumerate(range(0, len(items), size))
    ]


def inputs_digest(inputs: Iterable[Path]) -> str:
    """What the user asked for, so a rerun with other inputs is caught, not mixed in."""
    names = json.dumps(sorted(str(p.resolve()) for p in inputs))
    return hashlib.sha256(names.encode()).hexdigest()[:16]


def write_plan(partitions: Sequence[Partition], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    uris, ras, decs, errors, parts = [], [], [], [], []
    for part in partitions:
        for item in part.items:
            uris.append(item.uri)
            ras.append(item.ra)
            decs.append(item.dec)
            errors.append(item.error)
            parts.append(part.index)
    table = pa.table(
        {
            "uri": pa.array(uris, pa.string()),
            "ra": pa.array(ras, pa.float64()),
            "dec": pa.array(decs, pa.float64()),
            "error": pa.array(errors, pa.string()),
            "partition": pa.array(parts, pa.int32()),
        }
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_plan(path: Path) -> list[Partition]:
    import pyarrow.parquet as pq

    table = pq.read_table(path).to_pydict()
    grouped: dict[int, list[WorkItem]] = {}
    for uri, ra, dec, error, part in zip(
        table["uri"], table["ra"], table["dec"], table["error"], table["partition"], strict=True
    ):
        grouped.setdefault(int(part), []).append(WorkItem(uri, ra, dec, error))
    return [Partition(i, tuple(grouped[i])) for i in sorted(grouped)]
