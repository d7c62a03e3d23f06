"""The review loop end to end on the REAL agent (real store, embedder, scorer, notifier) on a
real desktop (Xvfb + trayer + D-Bus + dunst): a reference, then "Scan a folder" of the demo
→ progress in the tray → Pause holds it → resume finishes it → one notification for the scan
reaches dunst → its action opens that candidate at the head of the review → T/F labels
re-rank → Quit leaves no process."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from astrolens.domain.settings import Settings, SourceSettings
from astrolens.settings.paths import app_paths
from astrolens.settings.store import save_settings
from tests.desktop.conftest import REPO, DesktopSession, wait_for
from tests.ui.conftest import SCREENSHOTS

pytestmark = [pytest.mark.desktop, pytest.mark.timeout(1500)]
SHARED = REPO.parent / "shared" / "data"
DEMO = SHARED / "demo"


def _reference_home(home: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """120 HSC reference galaxies scanned first, so the demo's oddities can be significant.

    Each kind of image is judged against its own reference, and a conformal p-value can be no
    smaller than 1/(n+1): with 40 references none of the demo's cutouts passes the FDR cut."""
    from astrolens.app.cli import main

    bench = SHARED / "bench"
    with (bench / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if (r["track"], r["split"]) == ("hsc", "reference")]
    ref = tmp / "reference"
    ref.mkdir()
    for r in rows[:120]:
        shutil.copy(bench / r["path"], ref)
    monkeypatch.setenv("ASTROLENS_HOME", str(home))
    quiet = {sid: SourceSettings(enabled=False) for sid in Settings().sources}
    # Only the scan runs (no sample sky loop competing for the CPU); no catalogs offline.
    save_settings(Settings(sources=quiet, crossmatch=False), app_paths(home).settings_file)
    assert main(["scan", str(ref), "--no-crossmatch"]) == 0


def _db(home: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "data" / "astrolens.sqlite3", timeout=10) as conn:
        return conn.execute(sql).fetchall()


def _state(agent) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The agent's state; under load one answer may time out, so ask until one comes."""
    return wait_for(agent.state, 60, "the agent's answer")  # type: ignore[no-any-return]


def _scanned(agent) -> int:  # type: ignore[no-untyped-def]
    tip = str(_state(agent).get("tooltip", ""))
    return int(tip.split("Scanning ", 1)[1].split("/")[0]) if "Scanning " in tip else -1


def test_the_review_journey_on_the_real_agent(
    desktop: DesktopSession, agent_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not DEMO.is_dir():
        pytest.skip("../shared/data is not present")
    home = tmp_path / "agent-home"
    home.mkdir()
    _reference_home(home, tmp_path, monkeypatch)
    before = _db(home, "SELECT count(*) FROM images")[0][0]
    last_reference_id = _db(home, "SELECT max(id) FROM images")[0][0]

    agent = agent_factory(ASTROLENS_CONTROLLER_FACTORY="")  # the real agent
    assert agent.ask(f"scan {DEMO}") == "ok"
    wait_for(lambda: _scanned(agent) >= 1, 300, "'Scanning n/N' in the tray tooltip")
    st = _state(agent)
    assert st["menu_status"].startswith("AstroLens — Scanning ")  # type: ignore[union-attr]
    desktop.screenshot(SCREENSHOTS / "journey-scanning.png")

    # Pause: nothing new is pulled within 2 s, and it stays so.
    assert agent.ask("pause") == "ok"
    paused_at = time.monotonic()
    wait_for(lambda: _state(agent)["controller_state"] == "paused", 5, "paused")
    time.sleep(max(0.0, 2.0 - (time.monotonic() - paused_at)))
    held_images = _db(home, "SELECT count(*) FROM images")[0][0]
    held = _scanned(agent)
    time.sleep(4.0)
    assert _db(home, "SELECT count(*) FROM images")[0][0] == held_images
    assert _scanned(agent) == held
    assert "(paused)" in str(_state(agent)["tooltip"])

    # Resume goes on where it stopped, to the end of the folder, and says what it did.
    assert agent.ask("resume") == "ok"
    wait_for(lambda: "Scanned folder demo" in str(_state(agent)["tooltip"]), 1200, "the summary")
    summary = str(_state(agent)["tooltip"])
    # 39 files, of which the ZTF science/template/difference triplets are one item each
    assert "35 files" in summary, summary
    stored = _db(home, "SELECT count(*) FROM images")[0][0] - before
    assert stored > 39  # every file, the FITS frames as many stamps

    # One notification for the scan, saying what was scanned.
    wait_for(lambda: desktop.displayed() >= 1, 30, "the scan's notification")
    time.sleep(2.0)
    assert desktop.displayed() == 1
    desktop.screenshot(SCREENSHOTS / "journey-notification.png")
    anomalies = _db(
        home,
        "SELECT c.image_id, s.p_value, c.score FROM candidates c "
        "JOIN scores s ON s.id = c.score_row_id "
        f"WHERE c.verdict = 'anomaly' AND c.image_id > {last_reference_id}",
    )
    assert anomalies, "the demo scan found no anomaly against the reference"
    strongest = min(anomalies, key=lambda r: (r[1], -float(r[2]), r[0]))[0]

    desktop.run("dunstctl", "action", "0")  # a click on it
    wait_for(lambda: _state(agent).get("candidate") == strongest, 30, "the candidate to open")
    wait_for(lambda: str(_state(agent)["queue_position"]).startswith("1 of "), 30, "1 of N")
    st = _state(agent)
    assert st["window_visible"] and st["panel"] == "Verification"
    wait_for(lambda: desktop.displayed() == 0, 10, "the acted-on notification to close")
    shown = desktop.notifications()[0]  # closed by the agent, so in dunst's history
    title = str(shown["summary"])
    assert title == f"{len(anomalies)} new anomalies in folder demo ({stored} new images)" or (
        len(anomalies) == 1 and title.startswith(f"Anomaly #{strongest}:")
    )
    if len(anomalies) > 1:
        assert str(shown["body"]).startswith(f"Strongest: #{strongest} ")
    desktop.run("dunstctl", "close-all", check=False)
    desktop.screenshot(SCREENSHOTS / "journey-verification.png")

    # T then F from the keyboard: stored, and the queue re-ranked by them.
    wid = desktop.run("xdotool", "search", "--onlyvisible", "--name", "^AstroLens$").split()[0]
    geo = dict(
        line.strip().split("=")
        for line in desktop.run("xdotool", "getwindowgeometry", "--shell", wid).splitlines()
    )
    # A click on the picture puts the keyboard focus in the review panel, as a user's would.
    x, y = int(geo["X"]) + 400, int(geo["Y"]) + 300
    desktop.run("xdotool", "windowactivate", "--sync", wid, check=False)
    desktop.run("xdotool", "mousemove", str(x), str(y), "click", "1")
    time.sleep(0.5)
    desktop.run("xdotool", "key", "t")
    wait_for(lambda: _state(agent).get("candidate") != strongest, 60, "the next candidate")
    second = _state(agent).get("candidate")
    desktop.run("xdotool", "key", "f")
    wait_for(lambda: len(_db(home, "SELECT * FROM labels")) >= 2, 60, "two labels")
    labels = dict(_db(home, "SELECT image_id, value FROM labels"))
    assert labels[strongest] == "true_positive" and labels[second] == "false_positive"
    wait_for(
        lambda: _db(home, "SELECT count(*) FROM candidates WHERE rank_score IS NOT NULL")[0][0],
        120,
        "the re-ranked queue",
    )

    # Quit: the process ends cleanly, and nothing of it is left.
    pid = agent.proc.pid
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True
    ).stdout.split()
    assert agent.ask("quit") == "ok"
    assert agent.proc.wait(60) == 0, agent.app_log()[-3000:]
    assert "stopped cleanly" in agent.app_log()
    # The decode workers are stopped and reaped by the agent itself. multiprocessing's
    # resource tracker (started with them) ends when it sees the agent's end, a moment
    # later; an ended process nobody reaped yet (state Z) holds nothing.
    for child in children:
        wait_for(lambda c=child: not _alive(c), 10, f"process {child} to end with the agent")
    assert agent.ask("state") is None
    json.dumps(st)  # the state answer stayed serialisable throughout


def _alive(pid: str) -> bool:
    """Whether the process runs (a zombie, ended but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
