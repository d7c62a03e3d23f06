"""A real desktop for the tests: Xvfb, a private D-Bus session bus, the trayer system tray,
the dunst notification daemon and an unlocked gnome-keyring, all started here and torn down
after. The agent runs in a subprocess on the xcb platform (this pytest process keeps the
offscreen QApplication the widget tests use)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NEEDED = (
    "Xvfb",
    "dbus-daemon",
    "trayer",
    "dunst",
    "dunstctl",
    "xdotool",
    "gnome-keyring-daemon",
    "secret-tool",
    "import",
)


def _missing() -> list[str]:
    return [b for b in NEEDED if shutil.which(b) is None]


def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


def _wait(pred, timeout: float, what: str, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _bus_name_owner_pid(env: dict[str, str], name: str) -> int | None:
    """The pid of the process that owns `name` on the session bus, None while nobody does.
    Asks the bus itself, so it never D-Bus-activates the name's service (a call addressed to
    the name, such as any dunstctl command, would start /usr/bin/dunst when nobody owns it)."""
    out = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply=literal",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            f"string:{name}",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.split()[-1]) if out.returncode == 0 else None


@dataclass
class DesktopSession:
    env: dict[str, str]
    tmp: Path
    dmenu_choice: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    def run(self, *cmd: str, check: bool = True, timeout: float = 10) -> str:
        out = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError(f"{cmd}: {out.returncode}: {out.stderr}")
        return out.stdout

    def notifications(self) -> list[dict[str, object]]:
        """Every notification dunst has seen (shown or in its history), newest first."""
        shown = json.loads(self.run("dunstctl", "history"))["data"][0]
        return [{k: v.get("data") for k, v in n.items()} for n in shown]

    def displayed(self) -> int:
        return int(self.run("dunstctl", "count", "displayed").strip())

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.run("import", "-window", "root", str(path))
        return path


@pytest.fixture(scope="session")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DesktopSession]:
    missing = _missing()
    if missing:
        pytest.skip(f"desktop test tools are not installed: {', '.join(missing)}")
    tmp = tmp_path_factory.mktemp("desktop")
    display = _free_display()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "QT_QPA"))}
    env.update(
        DISPLAY=f":{display}",
        QT_QPA_PLATFORM="xcb",
        XDG_RUNTIME_DIR=str(tmp),
        HOME=str(tmp / "home"),
        NO_AT_BRIDGE="1",
    )
    (tmp / "home").mkdir()
    session = DesktopSession(env=env, tmp=tmp, dmenu_choice=tmp / "dmenu-choice")

    def start(*cmd: str, **kw) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
        with open(tmp / f"{Path(cmd[0]).name}.log", "wb") as err:  # the child keeps a copy
            p = subprocess.Popen(cmd, env=session.env, stdout=subprocess.DEVNULL, stderr=err, **kw)
        session.procs.append(p)
        return p

    try:
        start("Xvfb", f":{display}", "-screen", "0", "1366x768x24", "-nolisten", "tcp")
        _wait(lambda: Path(f"/tmp/.X11-unix/X{display}").exists(), 10, "Xvfb")
        # Our own bus, exported before any X client starts (else one autolaunches a stray one).
        out = subprocess.run(
            ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.split()
        session.env["DBUS_SESSION_BUS_ADDRESS"] = out[0]
        session.pids.append(int(out[1]))
        # The keyring daemon must own the Secret Service before any client asks for it.
        # In the foreground, so this fixture owns its pid and stops it by that pid.
        kr = start(
            "gnome-keyring-daemon",
            "--foreground",
            "--unlock",
            "--components=secrets",
            stdin=subprocess.PIPE,
        )
        assert kr.stdin is not None
        kr.stdin.write(b"testpass")
        kr.stdin.close()
        _wait(
            lambda: _bus_name_owner_pid(session.env, "org.freedesktop.secrets") is not None,
            10,
            "the Secret Service",
        )
        start(
            "trayer",
            "--edge",
            "top",
            "--align",
            "right",
            "--widthtype",
            "request",
            "--height",
            "24",
            "--SetDockType",
            "true",
            "--transparent",
            "false",
        )
        dmenu = tmp / "fake-dmenu"
        dmenu.write_text(
            "#!/bin/sh\n# Stand-in for dmenu: pick the action whose name the test chose.\n"
            f'grep -F -- "$(cat {session.dmenu_choice})" | head -n 1\n'
        )
        dmenu.chmod(0o755)
        conf = tmp / "dunstrc"
        conf.write_text(
            "[global]\n"
            "    width = 300\n    origin = top-right\n    offset = 10x40\n"
            "    mouse_left_click = do_action, close_current\n"
            f"    dmenu = {dmenu}\n"
            "    show_indicators = no\n    sticky_history = yes\n    history_length = 50\n"
            "[urgency_low]\n    timeout = 0\n"
            "[urgency_normal]\n    timeout = 0\n"
            "[urgency_critical]\n    timeout = 0\n"
        )
        dunst = start("dunst", "-config", str(conf))
        # Wait for *this* dunst to own the name. Polling with dunstctl would D-Bus-activate a
        # second dunst (the system's service file, the default config, a dmenu that is not
        # installed) whenever it ran before ours had registered; under load that one won
        # about one start in ten, and the "Not interesting" action silently did nothing.
        owner = _wait(
            lambda: (
                _bus_name_owner_pid(session.env, "org.freedesktop.Notifications")
                or dunst.poll() is not None
            ),
            10,
            "dunst",
        )
        assert dunst.poll() is None, f"dunst exited: {(tmp / 'dunst.log').read_text()}"
        assert owner == dunst.pid, f"another process ({owner}) owns the notification service"
        yield session
    finally:
        for p in reversed(session.procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        for pid in session.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


@dataclass
class AgentProcess:
    proc: subprocess.Popen[bytes]
    home: Path
    ready: Path
    fake_log: Path
    server: str
    session: DesktopSession
    launched_at: float

    def ask(self, command: str) -> str | None:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from astrolens.app.single_instance import ask_running_instance as a; "
                "r = a(sys.argv[1], sys.argv[2], 5000); print('' if r is None else r)",
                self.server,
                command,
            ],
            env={**self.session.env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=20,
        )
        return out.stdout.strip() or None

    def state(self) -> dict[str, object]:
        answer = self.ask("state")
        return json.loads(answer) if answer else {}

    def log_lines(self) -> list[str]:
        return self.fake_log.read_text().splitlines() if self.fake_log.exists() else []

    def app_log(self) -> str:
        path = self.home / "logs" / "astrolens.log"
        return path.read_text() if path.exists() else ""


def launch_agent(session: DesktopSession, tmp: Path, **extra_env: str) -> AgentProcess:
    from astrolens.app.single_instance import instance_name

    home = tmp / "agent-home"
    home.mkdir(exist_ok=True)
    ready = tmp / "ready.json"
    fake_log = tmp / "fake.log"
    env = {
        **session.env,
        "ASTROLENS_HOME": str(home),
        "ASTROLENS_READY_FILE": str(ready),
        "ASTROLENS_CONTROLLER_FACTORY": "tests.ui.fakes:demo_controller_factory",
        "ASTROLENS_FAKE_DEMO": str(REPO.parent / "shared" / "data" / "demo"),
        "ASTROLENS_FAKE_LOG": str(fake_log),
        "PYTHONPATH": str(REPO),
        **extra_env,
    }
    started = time.monotonic()
    with open(tmp / "agent.out", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "astrolens.app.cli"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = instance_name((home / "data").resolve())
    return AgentProcess(proc, home, ready, fake_log, server, session, started)


@pytest.fixture
def agent_factory(desktop: DesktopSession, tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    agents: list[AgentProcess] = []

    def make(**extra_env: str) -> AgentProcess:
        desktop.run("dunstctl", "close-all", check=False)
        desktop.run("dunstctl", "history-clear", check=False)
        a = launch_agent(desktop, tmp_path, **extra_env)
        agents.append(a)
        _wait(lambda: a.ready.exists() or a.proc.poll() is not None, 30, "the agent to start")
        assert a.proc.poll() is None, (tmp_path / "agent.out").read_text()
        _wait(lambda: a.state().get("controller_state"), 30, "the controller")
        return a

    yield make
    for a in agents:
        if a.proc.poll() is None:
            a.ask("quit")
            try:
                a.proc.wait(20)
            except subprocess.TimeoutExpired:
                a.proc.kill()
    desktop.run("dunstctl", "close-all", check=False)
    desktop.run("dunstctl", "history-clear", check=False)


wait_for = _wait
