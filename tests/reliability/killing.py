"""kill -9 trials shared by the test (about ten) and the soak script (a hundred and more).

One home is scanned again and again, each run SIGKILLed at a random point: a random time
(start-up, fetch, decode), a random number of stored images (stamp-writing, persistence), or
once scores appear (scoring). A last run finishes; its store must have exactly the shape of
an uninterrupted scan of the same folder in a fresh home.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.harness import (
    StoreShape,
    count,
    kill_after,
    run_cli,
    start_and_kill_when,
    store_shape,
)

SCAN = ["scan", "--no-crossmatch"]


@dataclass
class KillReport:
    trials: int = 0
    kills: int = 0
    finished_early: int = 0
    rounds: int = 0
    rounds_equal: int = 0  # rounds whose final store had exactly the reference's shape
    points: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def nothing_lost(self) -> bool:
        return self.rounds > 0 and self.rounds_equal == self.rounds and not self.problems


def reference_scan(home: Path, folder: Path) -> StoreShape:
    done = run_cli(home, *SCAN, str(folder), timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return store_shape(home)


def differences(final: StoreShape, reference: StoreShape) -> list[str]:
    found = []
    if final.uris != reference.uris:
        lost = set(reference.uris) - set(final.uris)
        extra = set(final.uris) - set(reference.uris)
        found.append(f"{len(lost)} images lost, {len(extra)} unexpected")
    checks = {
        "duplicate content": final.duplicate_hashes,
        "orphan blobs": len(final.orphan_blobs),
        "temp files": len(final.temp_files),
        "unscored images": final.unscored,
        "unfinished files": final.unfinished,
    }
    found += [f"{n} {what}" for what, n in checks.items() if n]
    if final.integrity != "ok":
        found.append(f"integrity: {final.integrity}")
    return found


def _one_kill(home: Path, args: list[str], rng: random.Random, expected: int) -> tuple[str, bool]:
    point = rng.choice(["time", "stored", "scored"])
    if point == "time":  # start-up, fetch, decode
        return point, kill_after(home, args, rng.uniform(0.2, 4.0), timeout=900)
    if point == "stored":  # persistence, stamp-writing
        target = min(count(home, "SELECT count(*) FROM images") + rng.randint(1, 4), expected)
        return point, start_and_kill_when(
            home, args, lambda: count(home, "SELECT count(*) FROM images") >= target, timeout=900
        )
    scored = count(home, "SELECT count(*) FROM scores")  # scoring
    return point, start_and_kill_when(
        home, args, lambda: count(home, "SELECT count(*) FROM scores") > scored, timeout=900
    )


def kill_rounds(
    base: Path,
    folder: Path,
    reference: StoreShape,
    *,
    rounds: int,
    kills_per_round: int,
    rng: random.Random,
) -> KillReport:
    """Each round: a fresh home, `kills_per_round` killed scans, one that finishes, and a
    comparison with the reference store."""
    report = KillReport()
    started = time.monotonic()
    args = [*SCAN, str(folder)]
    for number in range(rounds):
        home = base / f"round-{number}"
        for _ in range(kills_per_round):
            point, killed = _one_kill(home, args, rng, reference.images)
            report.trials += 1
            report.points[point] = report.points.get(point, 0) + 1
            report.kills += int(killed)
            report.finished_early += int(not killed)
        done = run_cli(home, *args, timeout=900)
        report.rounds += 1
        if done.returncode != 0:
            report.problems.append(f"round {number}: rerun exit {done.returncode}")
            continue
        diff = differences(store_shape(home), reference)
        if diff:
            report.problems.append(f"round {number}: " + "; ".join(diff))
        else:
            report.rounds_equal += 1
    report.seconds = time.monotonic() - started
    return report
