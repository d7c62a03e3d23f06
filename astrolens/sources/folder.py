"""Images from local folders: the `astrolens scan PATH` source, and a watched folder.

Files are visited in a stable order (sorted absolute paths), so a cursor (the last path whose
images are stored) lets a restart resume where it stopped. ZTF-style
``<name>_science/_template/_difference.fits`` files in one folder form one task.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import stat
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from astrolens.domain.cursors import CursorStore
from astrolens.domain.errors import (
    ConfigurationError,
    TemporarilyUnreadableError,
    UnreadableImageError,
)
from astrolens.domain.images import ImageGroup, Provenance, RawImage
from astrolens.domain.sources import FetchTask, SourceState, SourceStatus
from astrolens.sources.registry import SourceInfo, register

SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".tif", ".tiff",
    ".fits", ".fit", ".fts", ".fits.fz", ".fits.gz", ".fit.gz", ".fts.gz",
)  # fmt: skip
_TRIPLET = re.compile(
    r"^(?P<stem>.+)_(?P<kind>science|template|difference)\.(?:fits|fit|fts)(?:\.gz|\.fz)?$",
    re.IGNORECASE,
)
_TRIPLET_KINDS = ("science", "template", "difference")
# Asks the store which of these URIs are done; fingerprints let a changed file be read again.
KnownUris = Callable[[Sequence[str], Mapping[str, str | None]], Awaitable[set[str]]]
# A file bigger than this is read by nobody's desktop in one go; refuse it with a reason.
DEFAULT_MAX_FILE_BYTES = 2 << 30
_READ_CHUNK = 4 << 20

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FolderEntry:
    """One task's files. `key` (the science file for a triplet) orders tasks and is the cursor."""

    key: str
    path: Path
    companions: dict[str, Path] | None = None


def is_supported(name: str) -> bool:
    return name.lower().endswith(SUPPORTED_SUFFIXES) and not name.startswith(".")


def list_entries(
    roots: Sequence[Path], recursive: bool, problems: list[str] | None = None
) -> list[FolderEntry]:
    """Every supported file under `roots`, triplets grouped, sorted by key. Blocking.

    A folder that cannot be listed is appended to `problems` (and logged): skipping it in
    silence would look like a finished scan."""

    def report(exc: OSError) -> None:
        where = exc.filename or "?"
        message = f"cannot read folder {where}: {exc.strerror or exc}; its files were skipped"
        log.warning("%s", message)
        if problems is not None:
            problems.append(message)

    files: set[Path] = set()
    for root in roots:
        if root.is_file():
            if is_supported(root.name):
                files.add(root)
            continue
        if recursive:
            # followlinks stays False: a symlinked folder loop cannot send the walk in circles.
            for folder, dirs, names in os.walk(root, onerror=report):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                files.update(Path(folder) / n for n in names if is_supported(n))
        else:
            try:
                children = list(root.iterdir())
            except OSError as exc:
                report(exc)
                continue
            files.update(p for p in children if is_supported(p.name) and not p.is_dir())
    return _group_triplets(files)


def file_fingerprint(path: Path) -> str | None:
    """Size and modification time: a quarantined file whose fingerprint changed is read again
    (it was caught mid-copy, or the user fixed it)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, at most `max_bytes`, or UnreadableImageError saying why.

    Opened non-blocking and checked with fstat on the open descriptor, so a FIFO cannot hang
    the scan and a device (``/dev/zero`` behind a symlink reports size 0) is never read; the
    cap is enforced while reading, because a file may grow after it was measured."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        if path.is_symlink():
            raise UnreadableImageError(f"{path}: broken symbolic link") from exc
        raise TemporarilyUnreadableError(f"{path}: file vanished before it could be read") from exc
    except PermissionError as exc:
        raise TemporarilyUnreadableError(f"{path}: permission denied") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableImageError(f"{path}: symbolic link loop") from exc
        raise TemporarilyUnreadableError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UnreadableImageError(f"{path}: is a folder, not an image file")
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableImageError(
                f"{path}: not a regular file ({_kind(st.st_mode)}); only regular files are read"
            )
        if st.st_size > max_bytes:
            raise UnreadableImageError(
                f"{path}: {st.st_size:,} bytes is larger than the {max_bytes:,} limit"
            )
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_READ_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise UnreadableImageError(
                    f"{path}: grew past the {max_bytes:,} byte limit while being read"
                )
        return b"".join(chunks)
    except BlockingIOError as exc:  # pragma: no cover - regular files do not block
        raise TemporarilyUnreadableError(f"{path}: not ready to be read") from exc
    except OSError as exc:
        raise TemporarilyUnreadableError(f"{path}: read failed ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _group_triplets(files: set[Path]) -> list[FolderEntry]:
    groups: dict[tuple[Path, str], dict[str, Path]] = {}
    for path in files:
        match = _TRIPLET.match(path.name)
        if match:
            groups.setdefault((path.parent, match["stem"]), {})[match["kind"].lower()] = path
    entries: list[FolderEntry] = []
    grouped: set[Path] = set()
    for parts in groups.values():
        if all(kind in parts for kind in _TRIPLET_KINDS):
            science = parts["science"]
            entries.append(FolderEntry(key=science.as_posix(), path=science, companions=parts))
            grouped.update(parts.values())
    entries.extend(FolderEntry(key=p.as_posix(), path=p) for p in files if p not in grouped)
    entries.sort(key=lambda e: e.key)
    return entries


class FolderSource:
    """Implements astrolens.domain.ports.ImageSource over local files.

    Which files are new is decided by the store (`known_uris`), never by a position in the
    sorted listing. The cursor it still writes (the last key below which every task is done,
    moved only past contiguous finished tasks) is progress for the user to see, not a filter.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        recursive: bool = True,
        cursor_store: CursorStore | None = None,
        *,
        name: str | None = None,
        group: ImageGroup = ImageGroup.SURVEY,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        known_uris: KnownUris | None = None,
    ) -> None:
        if not paths:
            raise ConfigurationError("folder source: no folder given")
        roots = [Path(p).expanduser().resolve() for p in paths]
        for root in roots:
            if not root.exists():
                raise ConfigurationError(f"folder source: {root} does not exist")
        self._roots = roots
        self._recursive = recursive
        self._cursors = cursor_store
        self._known_uris = known_uris
        self._planned: set[str] = set()
        self._id = f"folder:{name}" if name else "folder"
        self._group = group
        self._max_file_bytes = max_file_bytes
        self._done_key: str | None = None  # everything up to here is stored
        self._planned_key: str | None = None  # everything up to here has been handed out
        self._in_flight: dict[str, bool] = {}  # planned keys in order -> done?
        self._state = SourceState.IDLE
        self._fetched = 0
        self._failed = 0
        self._problems: list[str] = []

    @property
    def id(self) -> str:
        return self._id

    @property
    def group(self) -> ImageGroup:
        return self._group

    @property
    def roots(self) -> tuple[Path, ...]:
        return tuple(self._roots)

    def status(self) -> SourceStatus:
        message = ", ".join(str(r) for r in self._roots)
        if self._problems:
            message += f"; {len(self._problems)} folder(s) unreadable: {self._problems[-1]}"
        return SourceStatus(
            self._id, self._state, message, fetched=self._fetched, failed=self._failed
        )

    async def plan(self, limit: int) -> list[FetchTask]:
        """The next files not handed out yet and, when the store is asked (`known_uris`), not
        stored before. What is stored is the persistent memory, not a cursor position: a file
        added anywhere in the tree later, or another folder scanned under the same source id,
        is never skipped, and a restart re-reads nothing it has."""
        problems: list[str] = []
        entries = await asyncio.to_thread(list_entries, self._roots, self._recursive, problems)
        self._problems = problems
        candidates = [e for e in entries if e.key not in self._planned]
        if self._known_uris is not None and candidates:
            uris = [e.path.as_uri() for e in candidates]
            fingerprints = await asyncio.to_thread(
                lambda: {e.path.as_uri(): file_fingerprint(e.path) for e in candidates}
            )
            known = await self._known_uris(uris, fingerprints)
            for entry in candidates:
                if entry.path.as_uri() in known:
                    self._planned.add(entry.key)
            candidates = [e for e in candidates if e.path.as_uri() not in known]
        fresh = candidates[: max(0, limit)]
        for entry in fresh:
            self._planned.add(entry.key)
            self._in_flight[entry.key] = False
        if fresh:
            self._planned_key = fresh[-1].key
        pending = any(not done for done in self._in_flight.values())
        self._state = SourceState.ACTIVE if fresh or pending else SourceState.EXHAUSTED
        return [self._task(e) for e in fresh]

    def _task(self, entry: FolderEntry) -> FetchTask:
        meta: dict[str, object] = {
            "path": str(entry.path),
            "fingerprint": file_fingerprint(entry.path),
        }
        if entry.companions:
            meta["companions"] = {k: str(v) for k, v in entry.companions.items()}
        return FetchTask(source_id=self._id, uri=entry.path.as_uri(), cursor=entry.key, meta=meta)

    async def fetch(self, task: FetchTask) -> RawImage:
        try:
            raw = await asyncio.to_thread(self._read, task)
        except UnreadableImageError:
            self._failed += 1
            raise
        self._fetched += 1
        return raw

    def _read(self, task: FetchTask) -> RawImage:
        path = Path(task.meta["path"])
        companions_meta: dict[str, str] = task.meta.get("companions") or {}
        companions = {kind: self._read_bytes(Path(p)) for kind, p in companions_meta.items()}
        data = companions["science"] if companions else self._read_bytes(path)
        return RawImage(
            provenance=Provenance(source_id=self._id, uri=task.uri, extra={"path": str(path)}),
            name=path.name,
            data=data,
            group=ImageGroup.TRANSIENT if companions else self._group,
            companions=companions,
        )

    def _read_bytes(self, path: Path) -> bytes:
        return read_regular_file(path, self._max_file_bytes)

    async def mark_done(self, task: FetchTask) -> None:
        if task.cursor not in self._in_flight:
            return
        self._in_flight[task.cursor] = True
        advanced: str | None = None
        for key in list(self._in_flight):  # insertion order is key order
            if not self._in_flight[key]:
                break
            del self._in_flight[key]
            advanced = key
        if advanced is not None:
            self._done_key = advanced
            if self._cursors is not None:
                await self._cursors.set(self._id, advanced)

    async def aclose(self) -> None:
        return None


register(
    SourceInfo(
        id="folder",
        title="Local folder",
        group=ImageGroup.SURVEY,
        online=False,
        factory=FolderSource,
        description="JPEG, PNG, TIFF and FITS files (incl. .fits.fz/.fits.gz) from local folders",
    )
)
