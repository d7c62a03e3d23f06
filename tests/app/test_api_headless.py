"""`astrolens run --headless --api`: discovery and the API in one process and one loop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import tomli_w

from astrolens.settings.paths import app_paths


def test_run_headless_api_serves_while_discovery_runs(shared_data: Path, tmp_path: Path) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    for src in sorted((shared_data / "demo").glob("normal__*.jpg"))[:4]:
        (watched / src.name).symlink_to(src)
    paths = app_paths().ensure()
    paths.settings_file.write_text(
        tomli_w.dumps(
            {"watch_folders": [str(watched)], "sources": {"sample-sky": {"enabled": False}}}
        )
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "astrolens", "run", "--headless", "--api", "--port", "0",
         "--no-crossmatch"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines: list[str] = []
        while not (lines and lines[-1].startswith("AstroLens API on")) and len(lines) < 20:
            lines.append(proc.stdout.readline())  # rich wraps long lines at 80 columns
        api_line = lines[-1]
        assert api_line.startswith("AstroLens API on"), "".join(lines) + proc.stderr.read()
        url = api_line.split()[3]
        assert "sources folder:watched" in "".join(lines)
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        token = subprocess.run(
            [sys.executable, "-m", "astrolens", "api-token"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        auth = {"Authorization": f"Bearer {token}"}
        # the discovery loop is this process's: pause it over the API, as the tray menu would
        assert httpx.post(f"{url}/pause", headers=auth).json() == {"state": "paused"}
        assert httpx.post(f"{url}/resume", headers=auth).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(120) == 0, proc.stderr.read()
