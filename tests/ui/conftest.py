"""UI test fixtures: a qasync loop on pytest-qt's QApplication, the fake controller, and the
screenshot folder."""

from __future__ import annotations

import asyncio
import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import qasync
from PyQt6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from astrolens.app.agent import AgentRuntime, create_agent_controller
from astrolens.app.cli import main
from astrolens.app.context import AppOptions, AstroLensApp
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.main_window import MainWindow
from astrolens.ui.theme import apply_dark_theme
from tests.conftest import SHARED_DATA
from tests.ui.fakes import FakeController

FITS_IN_DEMO = (
    "picture_or_fits__M51.fits",
    "ztf__ZTF24aajbcje_difference.fits",
    "ztf__ZTF24aajbcje_science.fits",
    "ztf__ZTF24aajbcje_template.fits",
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """An asyncio loop that runs inside Qt's: coroutines progress while qtbot waits."""
    apply_dark_theme(qapp)
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    # already_running=True registers the loop as this thread's running loop; unregister it,
    # or a later test's asyncio.run() would refuse to start.
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


@pytest.fixture
def demo_dir(shared_data: Path) -> Path:
    return shared_data / "demo"


@pytest.fixture
def controller(demo_dir: Path, qloop: asyncio.AbstractEventLoop) -> Iterator[FakeController]:
    ctl = FakeController(demo_dir)
    yield ctl
    ctl.executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def keyring_file(tmp_path: Path) -> Iterator[Path]:
    """A real keyring backend (keyrings.alt's file keyring) in this test's temp dir."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    path = tmp_path / "keyring_pass.cfg"
    backend.file_path = str(path)  # type: ignore[misc]
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield path
    keyring.set_keyring(previous)


def save_screenshot(widget: QWidget, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert widget.grab().save(str(path)), f"could not save {path}"
    return path


@pytest.fixture(scope="session")
def review_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One real scan for the session (it is the slow part): 40 HSC reference galaxies, then
    the demo's cutouts, a FITS frame (cut into .npy stamps) and a ZTF triplet. Each test opens
    its own agent on it; a test that changes a stored file puts it back."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    root = tmp_path_factory.mktemp("review")
    bench = SHARED_DATA / "bench"
    with (bench / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if (r["track"], r["split"]) == ("hsc", "reference")]
    reference = root / "reference"
    reference.mkdir()
    for r in rows[:40]:
        shutil.copy(bench / r["path"], reference)
    demo = root / "demo"
    demo.mkdir()
    for path in (SHARED_DATA / "demo").glob("*al__*"):
        if path.suffix in (".jpg", ".png"):
            shutil.copy(path, demo)
    for name in FITS_IN_DEMO:
        shutil.copy(SHARED_DATA / "demo" / name, demo)
    home = root / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASTROLENS_HOME", str(home))
        mp.setenv("HOME", str(root))
        assert main(["scan", str(reference), "--no-crossmatch"]) == 0
        assert main(["scan", str(demo), "--offline"]) == 0
    yield home


@pytest.fixture
def real_runtime(
    review_home: Path, qloop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AgentRuntime]:
    monkeypatch.setenv("ASTROLENS_HOME", str(review_home))
    app = AstroLensApp(options=AppOptions(offline_catalogs=True))
    yield create_agent_controller(app, start=False)
    app.close()


@pytest.fixture
def real_window(qtbot: QtBot, real_runtime: AgentRuntime) -> MainWindow:
    win = MainWindow(real_runtime, AgentBridge(real_runtime), url_opener=lambda url: None)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    return win
