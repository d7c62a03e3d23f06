"""Desktop agent start-up and idle cost, on a virtual desktop (Xvfb + trayer).

Measures, over several launches of `python -m astrolens.app.cli`:
  - time from launch to the tray icon being visible (the agent writes ASTROLENS_READY_FILE
    once QSystemTrayIcon.isVisible() is true),
  - which heavy modules (torch, faiss, astroquery, open_clip) were loaded by then,
  - CPU use of a paused agent over 10 s, and of a running but idle one (from /proc/PID/stat).

    python benchmarks/desktop_startup.py [--runs 5] [--controller fake|real] [--idle-s 10]

`fake` runs the agent on the demo controller from tests/ui/fakes.py (the real one needs
astrolens.app.agent); both measure the same start-up path up to the icon.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout, not an installed copy
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def wait(pred, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.01)
    raise TimeoutError(what)


def ask(env: dict[str, str], server: str, command: str) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from astrolens.app.single_instance import ask_running_instance as a; "
            "print(a(sys.argv[1], sys.argv[2]) or '')",
            server,
            command,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip()


def desktop(tmp: Path) -> tuple[dict[str, str], list[subprocess.Popen[bytes]], int]:
    for tool in ("Xvfb", "trayer", "dbus-daemon"):
        if shutil.which(tool) is None:
            sys.exit(f"needs {tool} (apt-get install xvfb trayer dbus-x11)")
    n = next(i for i in range(150, 250) if not Path(f"/tmp/.X11-unix/X{i}").exists())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "QT_QPA"))}
    env.update(
        DISPLAY=f":{n}",
        QT_QPA_PLATFORM="xcb",
        XDG_RUNTIME_DIR=str(tmp),
        PYTHONPATH=str(REPO),
        HF_HUB_OFFLINE="1",
    )
    procs = [
        subprocess.Popen(
            ["Xvfb", f":{n}", "-screen", "0", "800x400x24", "-nolisten", "tcp"],
            stderr=subprocess.DEVNULL,
        )
    ]
    wait(lambda: Path(f"/tmp/.X11-unix/X{n}").exists(), 10, "Xvfb")
    out = subprocess.run(
        ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    address, bus_pid = out.split()
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    procs.append(
        subprocess.Popen(
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "request",
                "--height",
                "24",
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
    )
    time.sleep(0.5)
    return env, procs, int(bus_pid)


def one_run(env: dict[str, str], tmp: Path, controller: str, idle_s: float) -> dict[str, object]:
    from astrolens.app.single_instance import instance_name

    home = Path(tempfile.mkdtemp(dir=tmp))
    ready = home / "ready.json"
    run_env = {**env, "ASTROLENS_HOME": str(home), "ASTROLENS_READY_FILE": str(ready)}
    if controller == "fake":
        run_env["ASTROLENS_CONTROLLER_FACTORY"] = "tests.ui.fakes:demo_controller_factory"
    server = instance_name((home / "data").resolve())
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "astrolens.app.cli"],
        env=run_env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait(lambda: ready.exists() or proc.poll() is not None, 60, "the tray icon")
    t_icon = time.monotonic() - t0
    info = json.loads(ready.read_text())
    json.loads(wait(lambda: ask(run_env, server, "state"), 60, "the agent"))
    wait(
        lambda: json.loads(ask(run_env, server, "state")).get("controller_state"),
        120,
        "the controller",
    )
    t_agent = time.monotonic() - t0
    time.sleep(2.0)  # let start-up work (first stats, thumbnails) finish
    c0 = cpu_seconds(proc.pid)
    time.sleep(idle_s)
    running_cpu = (cpu_seconds(proc.pid) - c0) / idle_s * 100
    ask(run_env, server, "pause")
    time.sleep(1.0)
    c0 = cpu_seconds(proc.pid)
    time.sleep(idle_s)
    paused_cpu = (cpu_seconds(proc.pid) - c0) / idle_s * 100
    ask(run_env, server, "quit")
    code = proc.wait(60)
    return {
        "icon_s": t_icon,
        "agent_s": t_agent,
        "tray_visible": info["tray_visible"],
        "heavy_at_icon": info.get("heavy_modules", []),
        "running_cpu": running_cpu,
        "paused_cpu": paused_cpu,
        "exit": code,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--controller", choices=["fake", "real"], default="fake")
    ap.add_argument("--idle-s", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env, procs, bus_pid = desktop(tmp)
        try:
            runs = [one_run(env, tmp, args.controller, args.idle_s) for _ in range(args.runs)]
        finally:
            for p in procs:
                p.terminate()
                p.wait(5)
            os.kill(bus_pid, 15)
    icon = [float(r["icon_s"]) for r in runs]  # type: ignore[arg-type]
    print(
        f"\nDesktop start-up ({args.controller} controller, {args.runs} runs, "
        f"{os.cpu_count()} CPUs)\n"
    )
    print(
        f"{'run':>3} {'tray icon s':>11} {'agent ready s':>13} {'running CPU %':>13} "
        f"{'paused CPU %':>12} {'heavy modules at icon':>22} {'exit':>4}"
    )
    for i, r in enumerate(runs, 1):
        print(
            f"{i:>3} {r['icon_s']:>11.3f} {r['agent_s']:>13.3f} {r['running_cpu']:>13.2f} "
            f"{r['paused_cpu']:>12.2f} {','.join(r['heavy_at_icon']) or '-':>22} "  # type: ignore[arg-type]
            f"{r['exit']:>4}"
        )
    print(
        f"\ntray icon: median {statistics.median(icon):.3f} s, max {max(icon):.3f} s "
        f"(target < 1.5 s); paused CPU max "
        f"{max(float(r['paused_cpu']) for r in runs):.2f} % (target < 1 %)"
    )  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
