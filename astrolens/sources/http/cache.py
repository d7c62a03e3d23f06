"""A disk cache of HTTP responses, revalidated with ETag / Last-Modified.

Each entry is two files named by the SHA-256 of the URL: the body and a small JSON header.
Both are written atomically (astrolens.fileio.atomic), so a crash never leaves a
half-written body that a later run would serve. The methods block (file I/O): the
transport calls them through asyncio.to_thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from astrolens.fileio import atomic


@dataclass(frozen=True, slots=True)
class CachedResponse:
    url: str
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None

    def validators(self) -> dict[str, str]:
        """Headers for a conditional request: the server answers 304 if nothing changed."""
        headers: dict[str, str] = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class DiskCache:
    """Keyed by full URL (query included). `max_bytes` bounds the bodies; oldest go first."""

    def __init__(self, root: Path, max_bytes: int = 512 * 1024 * 1024) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        self._puts_since_prune = 0

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()
        folder = self.root / key[:2]
        return folder / f"{key}.body", folder / f"{key}.json"

    def get(self, url: str) -> CachedResponse | None:
        body_path, meta_path = self._paths(url)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            body = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if meta.get("url") != url or meta.get("size") != len(body):
            return None  # a hash collision or a body from another header: treat as a miss
        return CachedResponse(
            url=url,
            body=body,
            content_type=meta.get("content_type", ""),
            etag=meta.get("etag"),
            last_modified=meta.get("last_modified"),
        )

    def put(self, response: CachedResponse) -> None:
        if not (response.etag or response.last_modified):
            return  # nothing to revalidate with: a cached copy could never be trusted again
        body_path, meta_path = self._paths(response.url)
        body_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "url": response.url,
            "size": len(response.body),
            "content_type": response.content_type,
            "etag": response.etag,
            "last_modified": response.last_modified,
        }
        # Body first: a header without its body is a miss, a body without its header is junk
        # that pruning removes.
        atomic.write_bytes(body_path, response.body)
        atomic.write_bytes(meta_path, json.dumps(meta).encode("utf-8"))
        self._puts_since_prune += 1
        if self._puts_since_prune >= 50:
            self.prune()

    def prune(self) -> None:
        """Delete the least recently written entries until the bodies fit in max_bytes."""
        self._puts_since_prune = 0
        bodies = []
        for path in self.root.glob("*/*.body"):
            with contextlib.suppress(OSError):
                st = path.stat()
                bodies.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in bodies)
        for _, size, path in sorted(bodies):
            if total <= self.max_bytes:
                break
            for victim in (path, path.with_suffix(".json")):
                with contextlib.suppress(OSError):
                    victim.unlink()
            total -= size
