"""The toolbox from the command line, end to end on the real app: a target list scanned from
the local SkyServer stand-in, its candidates exported, sent over SAMP to a second client, and a
fresh Legacy Survey cutout fetched for one of them."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from astrolens.app.cli import main
from astrolens.interop.samp import NO_HUB
from tests.app.toolbox_fixtures import scanned
from tests.interop.samp_helpers import Receiver, hub, receiver
from tests.sources.fake_services import FakeServices, fake_services

__all__ = ["fake_services", "hub", "receiver", "scanned"]  # fixtures, imported for pytest


def _path(url: str) -> Path:
    return Path(url2pathname(urlparse(url).path))


def test_export_scan_and_send(
    scanned: list[dict],
    receiver: Receiver,
    fake_services: FakeServices,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = [c["id"] for c in scanned]
    assert scanned[0]["viewers"]["ESASky"].startswith("https://sky.esa.int/esasky/?target=")
    assert main(["show", str(ids[0])]) == 0
    shown = capsys.readouterr().out
    assert (
        f"Legacy Survey viewer: https://www.legacysurvey.org/viewer?ra={scanned[0]['ra_deg']:.6f}"
        in shown
    )
    vot = tmp_path / "candidates.vot"
    assert main(["export", "-o", str(vot)]) == 0
    assert f"wrote {len(ids)} candidates to {vot} as votable" in capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = Table.read(vot)
    assert list(table["id"]) == ids  # most anomalous first, as `candidates` lists them
    assert all(math.isfinite(x) for x in table["ra"]) and table["ra"].unit == "deg"
    assert all(str(s).startswith("targets-my-galaxies-") for s in table["source"])

    reg = tmp_path / "candidates.reg"
    assert main(["export", "--format", "ds9", "-o", str(reg), "--ids", str(ids[0])]) == 0
    assert "wrote 1 regions" in capsys.readouterr().out
    assert f"{scanned[0]['ra_deg']:.8f}" in reg.read_text()

    assert main(["samp", "send", "table", "--verdict", "all"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"sent {len(ids)} rows to FakeTopcat (table.load.votable)")
    sent = Table.read(_path(receiver.wait("table.load.votable")["url"]))
    assert list(sent["id"]) == ids

    assert main(["samp", "send", "position", str(ids[0])]) == 0
    params = receiver.wait("coord.pointAt.sky")
    assert float(params["ra"]) == pytest.approx(scanned[0]["ra_deg"])

    assert main(["samp", "send", "image", str(ids[0])]) == 0
    assert "(no WCS" not in capsys.readouterr().out
    with fits.open(_path(receiver.wait("image.load.fits")["url"])) as hdus:
        wcs, shape = WCS(hdus[0].header), hdus[0].data.shape
    centre = wcs.pixel_to_world((shape[1] - 1) / 2, (shape[0] - 1) / 2)
    assert centre.ra.deg == pytest.approx(scanned[0]["ra_deg"], abs=1e-6)

    # a fresh cutout at the same position, from the other survey, through its own source
    assert main(["cutout", str(ids[0]), "--base-url", fake_services.base_url]) == 0
    saved = Path(capsys.readouterr().out.strip().rsplit(" to ", 1)[1])
    assert saved.read_bytes()[:3] == b"\xff\xd8\xff"
    asked = fake_services.requests_to("/viewer/cutout.jpg")[-1].query
    assert float(asked["ra"][0]) == pytest.approx(scanned[0]["ra_deg"], abs=1e-6)
    assert asked["layer"] == ["ls-dr10"]


def test_no_hub_and_bad_names_are_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["samp", "send", "table"]) == 4
    assert capsys.readouterr().err.strip() == f"astrolens: error: {NO_HUB}"
    assert main(["samp", "status"]) == 4
    assert main(["export", "-o", str(tmp_path / "c.txt")]) == 2
    assert "cannot tell the format from c.txt" in capsys.readouterr().err
    assert main(["cutout", "99"]) == 2
    assert "no candidate with id 99" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("name,x\na,1\n")
    assert main(["targets", str(empty)]) == 2
    assert "no RA/Dec columns found" in capsys.readouterr().err


def test_export_without_candidates_writes_an_empty_table(tmp_path: Path) -> None:
    out = tmp_path / "none.fits"
    assert main(["export", "-o", str(out)]) == 0
    with fits.open(out) as hdus:
        assert hdus[1].header["NAXIS2"] == 0 and hdus[1].header["TUNIT2"] == "deg"


def test_home_before_the_command_is_kept(
    tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`astrolens --home DIR export …` once wrote into the default home: the subcommand's own
    --home (default None) overwrote the one given before the command name."""
    chosen = tmp_path / "chosen-home"
    out = tmp_path / "c.ecsv"
    assert main(["--home", str(chosen), "export", "-o", str(out)]) == 0
    assert (chosen / "data" / "astrolens.sqlite3").is_file()
    assert not (isolated_home / "data" / "astrolens.sqlite3").exists()
    assert main(["export", "--home", str(chosen), "-o", str(out)]) == 0  # after it, too


def test_samp_hub_runs_until_interrupted(tmp_path: Path, isolated_home: Path) -> None:
    """`astrolens samp hub`: a hub other tools (and `samp status`) find through ~/.samp."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from astrolens.interop.samp import SampLink

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    hub = subprocess.Popen(
        [sys.executable, "-m", "astrolens", "samp", "hub"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lockfile = Path(os.environ["HOME"]) / ".samp"
        deadline = time.monotonic() + 60
        while not lockfile.exists() and time.monotonic() < deadline and hub.poll() is None:
            time.sleep(0.1)
        assert lockfile.exists(), hub.stderr.read() if hub.poll() is not None else "no lockfile"
        link = SampLink(tmp_path / "samp", lambda _e: None)
        status = link.connect()
        assert status.connected and status.clients == ()
        link.close()
    finally:
        hub.send_signal(signal.SIGINT)
        out, _ = hub.communicate(timeout=20)
    assert hub.returncode == 0
    assert "SAMP hub running at http://127.0.0.1:" in out
    assert not lockfile.exists()  # the hub removed its lockfile on the way out
