"""Download a weights file once, verify its SHA-256, and write it atomically.

httpx (already a dependency for the sources) instead of huggingface_hub: we need a progress
callback, a checksum and an atomic write into *our* models_dir, and a connect timeout short
enough that an offline machine fails at once instead of after huggingface_hub's retries.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from astrolens.fileio import atomic
from astrolens.ml.embedders.errors import CorruptCheckpointError, ModelUnavailableError

# (bytes done, bytes total or None when the server does not say)
ProgressCallback = Callable[[int, int | None], None]

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class RemoteFile:
    url: str
    filename: str
    sha256: str | None = None  # full digest or a prefix of it; None: learnt from the server


def offline_requested() -> bool:
    """huggingface_hub's switch, honoured here too so one variable keeps the app off the net."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def download(
    remote: RemoteFile,
    target_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    offline: bool | None = None,
) -> Path:
    """Return the local path of `remote`, downloading it first if it is not there yet."""
    target = target_dir / remote.filename
    if target.is_file():
        return target
    if offline if offline is not None else offline_requested():
        raise ModelUnavailableError(
            f"{remote.filename} is not in {target_dir} and downloads are off (HF_HUB_OFFLINE); "
            "connect once, or use a local weights file"
        )
    import httpx

    target_dir.mkdir(parents=True, exist_ok=True)
    timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    digest = hashlib.sha256()
    fd, temp_name = tempfile.mkstemp(dir=target_dir, prefix=f".{remote.filename}.", suffix=".part")
    temp = Path(temp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            httpx.stream("GET", remote.url, timeout=timeout, follow_redirects=True) as response,
        ):
            response.raise_for_status()
            expected = remote.sha256 or _digest_from_headers(response.headers)
            total = (
                int(response.headers["content-length"])
                if "content-length" in response.headers
                else None
            )
            done = 0
            for block in response.iter_bytes(1 << 20):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if expected and not actual.startswith(expected.lower()):
            raise CorruptCheckpointError(
                f"{remote.filename} downloaded but its SHA-256 {actual[:12]}… does not match "
                f"the published {expected[:12]}…; nothing was kept"
            )
        os.replace(temp, target)
        _write_digest(target, actual)
        return target
    except httpx.HTTPError as exc:
        raise ModelUnavailableError(
            f"cannot download {remote.filename} from {remote.url}: {exc.__class__.__name__}: "
            f"{exc or 'no network'}"
        ) from exc
    finally:
        temp.unlink(missing_ok=True)


def _digest_from_headers(headers: object) -> str | None:
    """The Hugging Face hub sends the SHA-256 of an LFS file as X-Linked-Etag."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    value = get("x-linked-etag") or ""
    value = value.strip('"').removeprefix("W/").strip('"')
    return value if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else None


def _write_digest(target: Path, digest: str) -> None:
    """Keep the digest beside the file, so later runs can name the weights precisely."""
    atomic.write_text(target.with_name(target.name + ".sha256"), digest + "\n", mode=0o644)
