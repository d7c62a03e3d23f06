"""One writer per home: an OS file lock held for the life of the process.

Two scans on one home both stored every file (117 "duplicates of themselves"), and `run
--headless` beside the tray scored what the tray was scoring. The lock is taken by every
command that writes the store or queries the catalogs; read-only commands (`candidates`,
`show`, `quarantine`, ...) never take it, so they keep working beside a running agent.

flock/msvcrt locks belong to the open file: the OS drops them when the process dies, kill -9
included, so a crash never leaves a stale lock behind. The holder writes who it is into the
file, so the second process can name it. Hand-written (30 lines) rather than `filelock`,
which neither says who holds a lock nor is installed here.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from astrolens.domain.errors import AstroLensError

LOCK_NAME = "astrolens.lock"
_held: dict[Path, int] = {}  # lock path -> open descriptor, for the process's life


class HomeInUseError(AstroLensError):
    """Another AstroLens process is writing to this home."""

    exit_code = 7

    def __init__(self, message: str, holder: Holder | None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True, slots=True)
class Holder:
    pid: int
    command: str
    since: float
    tray: bool = False  # the desktop agent, which can be asked to show its window

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid}, `{self.command}`, since {since}"


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        # Lock one byte far past the holder text, so others can still read who holds it.
        os.lseek(fd, 1 << 20, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def read_holder(lock_path: Path) -> Holder | None:
    try:
        data = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
        return Holder(
            int(data["pid"]), str(data["command"]), float(data["since"]), bool(data.get("tray"))
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def acquire_home_lock(data_dir: Path, command: str, *, tray: bool = False) -> Path:
    """Hold the home's lock until the process exits, or raise HomeInUseError naming the
    holder. Idempotent within one process."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = data_dir / LOCK_NAME
    if lock_path in _held:
        return lock_path
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    if not _try_lock(fd):
        os.close(fd)
        holder = read_holder(lock_path)
        who = holder.describe() if holder else "another process"
        raise HomeInUseError(
            f"this AstroLens home ({data_dir.parent if data_dir.name == 'data' else data_dir}) "
            f"is in use by another AstroLens process ({who}). Wait for it to finish or stop "
            "it; read-only commands such as `astrolens candidates` work meanwhile.",
            holder,
        )
    info = json.dumps({"pid": os.getpid(), "command": command, "since": time.time(), "tray": tray})
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, info.encode("utf-8"))
    _held[lock_path] = fd
    return lock_path


def held_locks() -> frozenset[Path]:
    """The lock files this process holds."""
    return frozenset(_held)


def release_home_lock(data_dir: Path) -> None:
    """For tests and in-process reuse; a process that exits releases it anyway."""
    fd = _held.pop(data_dir / LOCK_NAME, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)
