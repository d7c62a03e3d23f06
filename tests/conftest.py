"""Suite-wide isolation: a temp home per test, and no network but loopback."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

# Set before anything imports Qt, huggingface_hub or astroquery.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_DATA = SHARED / "data"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if isinstance(address, str):  # AF_UNIX paths (D-Bus, X11) stay local
        return True
    if isinstance(address, bytes):
        return True
    host = address[0] if isinstance(address, tuple) else None
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkBlockedError(OSError):
    pass


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise NetworkBlockedError(f"tests may not reach the network: {address!r}")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise NetworkBlockedError(f"tests may not reach the network: {address!r}")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own AstroLens home, HOME and XDG dirs: the real user's are untouched."""
    home = tmp_path / "astrolens-home"
    home.mkdir()
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    monkeypatch.setenv("ASTROLENS_HOME", str(home))
    monkeypatch.setenv("HOME", str(user_home))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        (user_home / var.lower()).mkdir()
        monkeypatch.setenv(var, str(user_home / var.lower()))
    return home


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def release_home_locks() -> object:
    """A CLI command run in-process takes its home's writer lock for the process's life, as a
    real process would; the test process runs many, so each test gives back what it took."""
    yield
    from astrolens.app import home_lock

    for lock_path in home_lock.held_locks():
        home_lock.release_home_lock(lock_path.parent)
