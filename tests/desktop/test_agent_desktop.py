"""The tray agent on a real (virtual) desktop: tray icon, menu, notifications and their
actions, single instance and a clean quit."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.desktop.conftest import REPO, DesktopSession, wait_for
from tests.ui.conftest import SCREENSHOTS
from tests.ui.fakes import build_demo_candidates

pytestmark = pytest.mark.desktop
DEMO = REPO.parent / "shared" / "data" / "demo"


def _top_anomalies(n: int) -> list[int]:
    from astrolens.domain.scoring import Verdict

    return [c.id for c in build_demo_candidates(DEMO) if c.result.verdict is Verdict.ANOMALY][:n]


def _tray_icon_xy(desktop: DesktopSession) -> tuple[int, int]:
    """The centre of trayer's window (it holds only our icon): top right of the screen."""
    wid = desktop.run("xdotool", "search", "--onlyvisible", "--class", "trayer").split()[0]
    geo = dict(
        line.strip().split("=")
        for line in desktop.run("xdotool", "getwindowgeometry", "--shell", wid).splitlines()
    )
    return int(geo["X"]) + int(geo["WIDTH"]) // 2, int(geo["Y"]) + int(geo["HEIGHT"]) // 2


def _menu_pick(desktop: DesktopSession, downs: int) -> None:
    _open_menu(desktop)
    desktop.run("xdotool", "key", *(["Down"] * downs), "Return")


def _open_menu(desktop: DesktopSession) -> None:
    x, y = _tray_icon_xy(desktop)
    desktop.run("xdotool", "mousemove", str(x), str(y))
    time.sleep(0.3)  # the pointer must have arrived before the button press
    desktop.run("xdotool", "click", "3")
    time.sleep(0.8)


def test_tray_icon_shows_and_its_menu_pauses_and_resumes(
    desktop: DesktopSession, agent_factory
) -> None:
    agent = agent_factory()
    st = agent.state()
    assert st["tray_available"] and st["tray_visible"]
    assert st["controller_state"] == "running"
    wait_for(lambda: "images today" in str(agent.state()["tooltip"]), 10, "the live tooltip")
    assert "source: legacy-survey" in str(agent.state()["tooltip"])

    _open_menu(desktop)
    shot = desktop.screenshot(SCREENSHOTS / "tray-menu.png")
    assert shot.stat().st_size > 1000
    desktop.run("xdotool", "key", "Down", "Return")  # the first enabled item: Pause
    wait_for(lambda: agent.state()["controller_state"] == "paused", 10, "pause")
    assert agent.state()["tray_state"] == "paused"
    assert any(line.endswith("state paused") for line in agent.log_lines())

    _menu_pick(desktop, 1)  # the same item now reads Resume
    wait_for(lambda: agent.state()["controller_state"] == "running", 10, "resume")
    assert any(line.endswith("state running") for line in agent.log_lines())


def test_notification_reaches_dunst_and_a_click_opens_that_candidate(
    desktop: DesktopSession, agent_factory
) -> None:
    expected = _top_anomalies(1)[0]
    agent = agent_factory(ASTROLENS_FAKE_ANNOUNCE="1")
    wait_for(lambda: desktop.displayed() >= 1, 15, "the notification in dunst")
    time.sleep(0.3)
    desktop.screenshot(SCREENSHOTS / "notification.png")
    assert not agent.state()["window_visible"]
    desktop.run("dunstctl", "action", "0")  # a click on the notification body
    wait_for(lambda: agent.state().get("candidate") == expected, 15, "the candidate to open")
    st = agent.state()
    assert st["window_visible"] and st["panel"] == "Verification"
    desktop.run("dunstctl", "close-all")  # into the history, where dunstctl can read it
    time.sleep(0.3)
    shown = desktop.notifications()[0]
    assert str(shown["summary"]).startswith(f"Anomaly #{expected}:")
    assert "Score" in str(shown["body"]) and "Catalogs:" in str(shown["body"])


def test_not_interesting_labels_a_false_positive_without_opening(
    desktop: DesktopSession, agent_factory
) -> None:
    expected = _top_anomalies(1)[0]
    agent = agent_factory(ASTROLENS_FAKE_ANNOUNCE="1")
    wait_for(lambda: desktop.displayed() >= 1, 15, "the notification in dunst")
    desktop.dmenu_choice.write_text("Not interesting")
    desktop.run("dunstctl", "context")
    wait_for(
        lambda: any(
            f"label {expected} false_positive notification" in line for line in agent.log_lines()
        ),
        15,
        "the false-positive label",
    )
    assert not agent.state()["window_visible"]


def test_a_burst_of_ten_becomes_one_grouped_notification(
    desktop: DesktopSession, agent_factory
) -> None:
    agent_factory(ASTROLENS_FAKE_ANNOUNCE="10")
    wait_for(lambda: desktop.displayed() >= 1, 15, "the grouped notification")
    time.sleep(2.0)  # nothing else may follow
    assert desktop.displayed() == 1
    desktop.run("dunstctl", "close-all")
    time.sleep(0.3)
    newest = desktop.notifications()[0]
    assert newest["summary"] == "10 new anomalies"
    assert str(newest["body"]).startswith("Strongest: #")


def test_second_launch_focuses_the_first_and_quit_is_clean(
    desktop: DesktopSession, agent_factory, tmp_path: Path
) -> None:
    agent = agent_factory()
    assert not agent.state()["window_visible"]
    env = {**desktop.env, "ASTROLENS_HOME": str(agent.home), "PYTHONPATH": str(REPO)}
    second = subprocess.run(
        [sys.executable, "-m", "astrolens.app.cli"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stdout
    wait_for(lambda: agent.state()["window_visible"], 10, "the first window")
    desktop.screenshot(SCREENSHOTS / "desktop-window.png")

    assert agent.ask("quit") == "ok"
    assert agent.proc.wait(30) == 0, "threads were left running (see the agent log)"
    assert "stopped cleanly" in agent.app_log()


def test_secret_service_keyring_round_trip(desktop: DesktopSession) -> None:
    """API keys through the real Secret Service (gnome-keyring) on the test's bus, checked
    with another client (secret-tool)."""
    code = (
        "from astrolens.settings import secrets as s\n"
        "r = s.set_secret('nasa_api_key', 'k-123-secret')\n"
        "assert not r.error, r.error\n"
        "print(s.keyring_backend_name())\n"
        "print(s.get_secret('nasa_api_key').value)\n"
    )
    env = {
        **desktop.env,
        "PYTHONPATH": str(REPO),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    backend, value = out.stdout.split()
    assert "SecretService" in backend and value == "k-123-secret"
    looked_up = desktop.run(
        "secret-tool", "lookup", "service", "AstroLens", "username", "nasa_api_key"
    )
    assert looked_up == "k-123-secret"
