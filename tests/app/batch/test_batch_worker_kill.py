"""A worker process killed mid-run: Dask reschedules its partition, every row lands once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from astrolens.app.batch.cluster import open_client
from astrolens.app.batch.run import prepare, run_partitions
from astrolens.app.batch.shards import read_rows
from astrolens.app.context import AstroLensApp


# Real models on a LocalCluster: minutes when the shared 2 cores are busy.
@pytest.mark.timeout(900)
def test_killed_worker_still_completes_with_every_row_once(
    tmp_path: Path, bench: Path, rings_reference: Path
) -> None:
    images = sorted((bench / "hsc" / "test").iterdir())[:120]
    out = tmp_path / "result"
    app = AstroLensApp()
    try:
        ref, parts = prepare(app, rings_reference, [*images], out, partition_size=8)
    finally:
        app.close()
    assert len(parts) == 15
    killed: list[int] = []

    with open_client(workers=2) as client:

        def kill_one_worker_after_the_first_shard(done: int, total: int) -> None:
            if done == 1 and not killed:
                pids = client.run(os.getpid)  # {worker address: pid}
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        summary = run_partitions(client, ref, parts, out, kill_one_worker_after_the_first_shard)

    assert killed, "the kill must have happened while partitions were still queued"
    assert summary.failed_partitions == {}
    assert summary.scored_partitions == 15
    uris = read_rows(out, columns=["uri"]).column("uri").to_pylist()
    assert sorted(uris) == sorted(str(p) for p in images)  # all present, none twice
    assert not list((out / "shards").glob(".*.tmp"))
