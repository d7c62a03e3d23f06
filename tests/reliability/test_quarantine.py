"""Issue 16, item 7: "bad file" and "try again later" are different quarantines. A file
caught mid-copy is read again once it changes; a maintenance page served with 200 is retried;
an unreadable subfolder is reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import copy_into
from tests.reliability.harness import query, run_cli
from tests.sources.fake_services import FakeServices, Fault

CUTOUT = "/dr18/SkyServerWS/ImgCutout/getjpeg"


def quarantine_rows(home: Path) -> dict[str, tuple[str, object]]:
    rows = query(home, "SELECT uri, reason, retry_at FROM quarantine")
    return {str(u): (str(r), t) for u, r, t in rows}


def test_a_file_caught_mid_copy_is_read_again_once_complete(
    tmp_path: Path, demo_jpegs: list[Path]
) -> None:
    folder = copy_into(tmp_path / "in", demo_jpegs[0])
    whole = demo_jpegs[1].read_bytes()
    copying = folder / "arriving.jpg"
    copying.write_bytes(whole[: len(whole) // 3])  # the copy is a third done
    home = tmp_path / "home"

    first = run_cli(home, "scan", "--no-crossmatch", str(folder))
    assert first.returncode == 0, first.stderr[-2000:]
    assert copying.as_uri() in quarantine_rows(home)

    copying.write_bytes(whole)  # the copy finished: new size, new mtime
    second = run_cli(home, "scan", "--no-crossmatch", str(folder))
    assert second.returncode == 0, second.stderr[-2000:]
    stored = {str(r[0]) for r in query(home, "SELECT uri FROM images")}
    assert copying.as_uri() in stored
    assert quarantine_rows(home) == {}
    listing = run_cli(home, "quarantine")
    assert listing.returncode == 0 and "No quarantined files" in listing.stdout


def test_a_maintenance_page_is_retried_not_quarantined_forever(
    tmp_path: Path, fake_services: FakeServices
) -> None:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.toml").write_text(
        f"""
[sources.sample-sky]
enabled = false

[sources.sdss]
enabled = true
rate_per_s = 50
base_url = "{fake_services.base_url}"
"""
    )
    fake_services.inject(CUTOUT, Fault("html"), times=2)
    args = ["run", "--headless", "--once", "--no-crossmatch"]
    first = run_cli(home, *args)
    assert first.returncode == 0, first.stderr[-2000:]
    waiting = quarantine_rows(home)
    assert len(waiting) == 2 and all(t is not None for _, t in waiting.values()), waiting
    assert all("HTML page" in reason for reason, _ in waiting.values())

    second = run_cli(home, *args)
    assert second.returncode == 0, second.stderr[-2000:]
    # Stored, or seen as a duplicate (the fake server repeats pictures across positions).
    seen = query(home, "SELECT uri FROM images UNION SELECT uri FROM sightings")
    stored = {str(r[0]) for r in seen}
    assert set(waiting) <= stored, "the positions behind the maintenance page were never retried"
    assert quarantine_rows(home) == {}


@pytest.mark.skipif(
    os.geteuid() != 0 or sys.platform != "linux", reason="needs root to drop to nobody"
)
def test_permission_error_is_temporary_and_an_unreadable_folder_is_reported(
    tmp_path_factory: pytest.TempPathFactory, demo_jpegs: list[Path]
) -> None:
    """Runs the CLI as `nobody`, so that file modes bite (root reads everything)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="astrolens-perm-"))
    base.chmod(0o777)
    folder = copy_into(base / "in", *demo_jpegs[:2])
    locked_file = folder / demo_jpegs[1].name
    locked_dir = folder / "private"
    copy_into(locked_dir, demo_jpegs[2])
    for path in (base / "in", base / "home", base / "user"):
        path.mkdir(exist_ok=True)
        path.chmod(0o777)
    locked_file.chmod(0o000)
    locked_dir.chmod(0o000)
    home = base / "home"
    env = {**os.environ, "HOME": str(base / "user"), "PYTHONUNBUFFERED": "1"}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env.pop(var, None)
    cmd = [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        sys.executable, "-m", "astrolens.app.cli", "--home", str(home),
        "scan", "--no-crossmatch", str(folder),
    ]  # fmt: skip

    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "cannot read folder" in first.stderr and "private" in first.stderr
    reason, retry_at = quarantine_rows(home)[locked_file.as_uri()]
    assert "permission denied" in reason and retry_at is not None

    locked_file.chmod(0o644)  # fixed: same size, same mtime; only the mode changed
    locked_dir.chmod(0o755)
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    stored = {str(r[0]) for r in query(home, "SELECT uri FROM images")}
    assert locked_file.as_uri() in stored
    assert (locked_dir / demo_jpegs[2].name).as_uri() in stored
