"""Atomic file writes: a final path exists only when complete, whatever crashes mid-write.

The bytes go to a temp file in the destination folder, which is fsynced and renamed over the
final name (``os.replace`` is atomic on one file system); the folder is then fsynced so the
rename itself survives a power cut. On any failure the temp file is removed and the old
file, if any, is left as it was. A full disk (ENOSPC, EDQUOT) raises StorageFullError.

Temp names are ``<prefix><name>.<random><suffix>`` next to the final file: callers pick the
prefix and suffix their sweep looks for, or the suffix a writer needs to see.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from astrolens.domain.errors import StorageFullError

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable; a no-op where a folder cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms (Windows) cannot open a directory; the rename still holds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def raise_if_full(exc: OSError) -> None:
    """Re-raise a full-disk OSError as StorageFullError; anything else is left to the caller."""
    if exc.errno in FULL_ERRNOS:
        raise StorageFullError(f"the disk is full; nothing was kept ({exc})") from exc


@contextlib.contextmanager
def replacing(
    path: Path, *, mode: int = 0o600, prefix: str = ".", suffix: str = ".tmp"
) -> Iterator[Path]:
    """Yield a new, empty temp file next to `path` to write (by name or by opening it); on a
    normal exit it becomes `path`. `mode` is the file's permission before anything is written
    (0o600, as tempfile's, unless the caller wants others to read it)."""
    temp = path.with_name(f"{prefix}{path.name}.{secrets.token_hex(4)}{suffix}")
    try:
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
        yield temp
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise_if_full(exc)
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_bytes(
    path: Path, data: bytes, *, mode: int = 0o600, prefix: str = ".", suffix: str = ".tmp"
) -> None:
    """`path.write_bytes(data)`, atomically and durably (see the module's doc)."""
    with replacing(path, mode=mode, prefix=prefix, suffix=suffix) as temp:
        fd = os.open(temp, os.O_WRONLY)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


def write_text(
    path: Path, text: str, *, mode: int = 0o600, prefix: str = ".", suffix: str = ".tmp"
) -> None:
    write_bytes(path, text.encode("utf-8"), mode=mode, prefix=prefix, suffix=suffix)
