"""One contract for `AgentController`, run against the UI tests' FakeController and the real
AgentRuntime (real store, real embedder, real images). Each call must emit the same kinds of
events in the same order on both: the UI and notification tests drive the fake, so a fake
that drifts from the real agent hid real bugs (retry_crossmatch emitted nothing for real).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from astrolens.domain.agent import CandidateQuery
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.events import (
    CatalogChecked,
    Event,
    ImageScored,
    PipelineState,
    PipelineStateChanged,
    Progress,
    ScanFinished,
    ScanProgress,
)
from astrolens.domain.labels import LabelValue
from astrolens.domain.learning import REEMBED_STAGE
from tests.ui.fakes import FakeController

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _hsc(split: str, n: int, dest: Path, skip: int = 0) -> Path:
    bench = SHARED_DATA / "bench"
    with (bench / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if (r["track"], r["split"]) == ("hsc", split)]
    dest.mkdir(parents=True, exist_ok=True)
    for r in rows[skip : skip + n]:
        shutil.copy(bench / r["path"], dest)
    return dest


@pytest.fixture(scope="module")
def real_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home where a real scan ran once: 40 HSC reference galaxies, then the demo's galaxy
    cutouts (with and without a sky position) against them."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    from astrolens.app.cli import main

    tmp = tmp_path_factory.mktemp("contract")
    reference = _hsc("reference", 40, tmp / "reference")
    demo = tmp / "demo"
    demo.mkdir()
    for path in (SHARED_DATA / "demo").glob("*al__*"):
        if path.suffix in (".jpg", ".png"):
            shutil.copy(path, demo)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASTROLENS_HOME", str(tmp / "home"))
        assert main(["scan", str(reference), "--no-crossmatch"]) == 0
        assert main(["scan", str(demo), "--offline"]) == 0
    return tmp / "home"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[float, Event]] = []

    def __call__(self, event: Event) -> None:
        self.events.append((time.monotonic(), event))

    def of(self, kind: type[Any], since: float = 0.0) -> list[Any]:
        return [e for t, e in self.events if isinstance(e, kind) and t >= since]

    def clear(self) -> None:
        self.events.clear()


async def wait_until(pred: Callable[[], Any], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(params=["fake", "real"])
def agent_home(request: pytest.FixtureRequest) -> Path | None:
    """None for the fake; for the real agent its scanned home (built outside any loop)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return None if request.param == "fake" else request.getfixturevalue("real_home")


@pytest.fixture
async def agent(agent_home: Path | None) -> AsyncIterator[Any]:
    if agent_home is None:
        ctl: Any = FakeController(SHARED_DATA / "demo")
        yield ctl
        await ctl.shutdown()
        return
    from astrolens.app.agent import create_agent_controller
    from astrolens.app.context import AppOptions, AstroLensApp
    from astrolens.settings.paths import app_paths

    app = AstroLensApp(paths=app_paths(agent_home), options=AppOptions(offline_catalogs=True))
    runtime = create_agent_controller(app, start=False)
    yield runtime
    await runtime.shutdown()


async def _unlabelled(agent: Any) -> list[Any]:
    found = await agent.candidates(CandidateQuery(labelled=False, order_by="score"))
    assert len(found) >= 2, "the contract needs candidates to act on"
    return found


async def test_label_is_stored_and_leaves_the_unlabelled_queue(agent: Any) -> None:
    rec = Recorder()
    agent.subscribe(rec)
    first = (await _unlabelled(agent))[0]
    await agent.label(first.id, LabelValue.TRUE_POSITIVE, note="lens arc", origin="ui")
    got = await agent.get_candidate(first.id)
    assert got is not None and got.label is not None
    assert (got.label.value, got.label.note) == (LabelValue.TRUE_POSITIVE, "lens arc")
    assert first.id not in [c.id for c in await _unlabelled(agent)]
    # A label changes nothing the pipeline reports: no state change, no new candidate.
    assert not rec.of(PipelineStateChanged) and not rec.of(ScanProgress)


async def test_retry_crossmatch_says_pending_then_the_stored_verdict(agent: Any) -> None:
    rec = Recorder()
    agent.subscribe(rec)
    cands = await _unlabelled(agent)
    placed = [c for c in cands if c.image.provenance.sky is not None]
    unplaced = [c for c in cands if c.image.provenance.sky is None]
    for cand in (placed[:1] + unplaced[:1]) or cands[:1]:
        rec.clear()
        await agent.retry_crossmatch(cand.id)
        await wait_until(lambda: rec.of(CatalogChecked), 30, "CatalogChecked")
        await asyncio.sleep(0.1)
        checked = rec.of(CatalogChecked)
        assert {e.image_id for e in checked} == {cand.id}
        fresh = await agent.get_candidate(cand.id)
        assert checked[-1].verdict is fresh.catalog_verdict
        # The answer carries the record as stored, so a view needs no second read.
        assert checked[-1].candidate == fresh
        if cand.image.provenance.sky is None:
            assert [e.verdict for e in checked] == [CatalogVerdict.NO_POSITION]
        else:
            assert checked[0].verdict is CatalogVerdict.PENDING
            assert checked[-1].verdict is not CatalogVerdict.PENDING


async def test_pause_and_resume_say_their_state_once(agent: Any) -> None:
    rec = Recorder()
    agent.subscribe(rec)
    agent.pause()
    agent.pause()
    assert agent.state is PipelineState.PAUSED
    assert [e.state for e in rec.of(PipelineStateChanged)] == [PipelineState.PAUSED]
    rec.clear()
    agent.resume()
    states = [e.state for e in rec.of(PipelineStateChanged)]
    assert len(states) == 1 and states[0] is agent.state is not PipelineState.PAUSED


async def test_folder_scan_covers_every_file_with_progress_and_a_summary(
    agent: Any, tmp_path: Path
) -> None:
    folder = _hsc("test", 12, tmp_path / "new-images", skip=200)
    files = len(list(folder.iterdir()))
    rec = Recorder()
    agent.subscribe(rec)
    agent.scan_folder(folder)
    await wait_until(lambda: rec.of(ScanFinished), 240, "the scan summary")
    progress = [e for e in rec.of(ScanProgress) if e.total]
    assert progress and progress[-1].done == progress[-1].total == files
    assert [e.done for e in progress] == sorted(e.done for e in progress)
    summary = rec.of(ScanFinished)[-1]
    assert summary.completed and summary.total == files
    assert summary.ingested + summary.duplicates + summary.quarantined == files
    assert f"{files} files" in summary.text() and "new-images" in summary.text()


async def test_pause_holds_a_running_scan_and_resume_finishes_it(
    agent: Any, tmp_path: Path
) -> None:
    folder = _hsc("test", 60, tmp_path / "big-folder", skip=100)
    files = len(list(folder.iterdir()))
    rec = Recorder()
    agent.subscribe(rec)
    agent.scan_folder(folder)
    await wait_until(lambda: [e for e in rec.of(ScanProgress) if e.done], 240, "progress")
    agent.pause()
    paused_at = time.monotonic()
    assert agent.state is PipelineState.PAUSED
    await asyncio.sleep(2.0)  # what was in flight at Pause may land in this grace
    settled = time.monotonic()
    await asyncio.sleep(3.0)
    late = rec.of(ScanProgress, since=settled) + rec.of(ImageScored, since=settled)
    assert not late, f"{len(late)} images pulled 2-5 s after Pause"
    held = max(e.done for e in rec.of(ScanProgress))
    assert held < files and not rec.of(ScanFinished)
    assert time.monotonic() - paused_at >= 5.0
    agent.resume()
    await wait_until(lambda: rec.of(ScanFinished), 240, "the scan to finish after resume")
    summary = rec.of(ScanFinished)[-1]
    assert summary.completed and summary.total == files
    assert summary.ingested + summary.duplicates + summary.quarantined == files


async def test_model_switch_re_embeds_every_stored_image(agent: Any) -> None:
    rec = Recorder()
    agent.subscribe(rec)
    new = dataclasses.replace(agent.settings(), model="efficientnet-lite0+r128")
    await agent.save_settings(new)
    assert agent.settings().model == "efficientnet-lite0+r128"

    def finished() -> list[Progress]:
        return [e for e in rec.of(Progress) if e.stage == REEMBED_STAGE and e.done == e.total > 0]

    await wait_until(finished, 300, "the re-embedding to finish")
    stages = [e for e in rec.of(Progress) if e.stage == REEMBED_STAGE]
    assert [e.done for e in stages] == sorted(e.done for e in stages)
