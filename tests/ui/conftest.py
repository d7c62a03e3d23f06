"""UI test fixtures: a qasync loop on pytest-qt's QApplication, the fake controller, and the
screenshot folder."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import qasync
from PyQt6.QtWidgets import QApplication, QWidget

from astrolens.ui.theme import apply_dark_theme
from tests.ui.fakes import FakeController

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
