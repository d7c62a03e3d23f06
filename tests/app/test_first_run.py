"""A first run ends with something to look at: with a reference too small for any verdict to
be significant, the most unusual few are printed (scan and run --headless), said to be "most
unusual so far, not yet significant" with how large the reference must grow, and they wait in
the review queue of the real agent."""

from __future__ import annotations

import asyncio
import csv
import re
import shutil
from pathlib import Path

import pytest

from astrolens.app.cli import main
from astrolens.domain.agent import CandidateQuery
from astrolens.domain.scoring import Verdict, reference_needed
from astrolens.domain.settings import Settings, SourceSettings
from astrolens.settings.paths import app_paths
from astrolens.settings.store import save_settings


def _hsc_test(shared_data: Path, dest: Path, n: int) -> Path:
    bench = shared_data / "bench"
    with (bench / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if (r["track"], r["split"]) == ("hsc", "test")]
    dest.mkdir()
    for r in rows[:n]:
        shutil.copy(bench / r["path"], dest)
    return dest


def test_reference_needed_follows_the_fdr_test() -> None:
    # one extreme image in a window of 200 needs p <= 0.05 / 200, and p >= 1 / (n + 1)
    assert reference_needed(0.05) == 3999
    assert 1 / (reference_needed(0.05) + 1) <= 0.05 / 200 < 1 / reference_needed(0.05)


def test_a_first_scan_shows_and_queues_the_most_unusual_so_far(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _hsc_test(shared_data, tmp_path / "first", 16)
    assert main(["scan", str(folder), "--no-crossmatch", "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "0 anomalies" in out
    assert "Most unusual so far, not yet significant" in out
    assert "about 3,999 images of a kind" in " ".join(out.split())
    printed = [int(i) for i in re.findall(r"^│ \d+\s+│ (\d+)\s+│", out, flags=re.M)]
    assert len(printed) == 5

    from astrolens.app.agent import create_agent_controller
    from astrolens.app.context import AstroLensApp

    async def queue() -> list[int]:
        runtime = create_agent_controller(AstroLensApp(), start=False)
        try:
            found = await runtime.candidates(
                CandidateQuery(verdicts=tuple(Verdict), labelled=False, order_by="score")
            )
        finally:
            await runtime.shutdown()
        return [c.id for c in found]

    # near-misses were queued already; the normal ones among them are queued now
    assert set(printed) <= set(asyncio.run(queue()))


def test_run_headless_once_names_the_most_unusual_so_far(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _hsc_test(shared_data, tmp_path / "watched", 12)
    sources = {sid: SourceSettings(enabled=False) for sid in Settings().sources}
    save_settings(Settings(watch_folders=[str(folder)], sources=sources), app_paths().settings_file)
    assert main(["run", "--headless", "--once", "--no-crossmatch"]) == 0
    out = capsys.readouterr().out
    assert "0 anomalies" in out
    assert "Most unusual so far, not yet significant (queued for review):" in out
    assert len(re.findall(r"^  #\d+ \S+\.png \(score", out, flags=re.M)) == 5
    said = " ".join(out.split())  # the terminal wraps long lines
    assert "verdicts become significant once the reference holds about 3,999" in said
