"""The weights downloader against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from astrolens.ml.embedders.download import RemoteFile, download
from astrolens.ml.embedders.errors import CorruptCheckpointError, ModelUnavailableError

PAYLOAD = bytes(range(256)) * 3000  # 768 kB: several progress steps
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        if self.path.startswith("/missing"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        if self.path.startswith("/hub"):
            self.send_header("X-Linked-Etag", f'"{DIGEST}"')
        if self.path.startswith("/badhub"):
            self.send_header("X-Linked-Etag", '"' + "0" * 64 + '"')
        self.end_headers()
        for start in range(0, len(PAYLOAD), 65536):
            self.wfile.write(PAYLOAD[start : start + 65536])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_downloads_with_progress_checksum_and_sidecar(server: str, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    remote = RemoteFile(url=f"{server}/file.bin", filename="w.bin", sha256=DIGEST[:16])
    path = download(
        remote, tmp_path / "models", progress=lambda d, t: seen.append((d, t)), offline=False
    )
    assert path.read_bytes() == PAYLOAD
    assert (tmp_path / "models" / "w.bin.sha256").read_text().strip() == DIGEST
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert sorted(p.name for p in path.parent.iterdir()) == ["w.bin", "w.bin.sha256"]
    # Second call: already there, no request.
    download(remote, tmp_path / "models", offline=False)
    assert len(_Handler.requests) == 1


def test_hub_checksum_header_is_verified(server: str, tmp_path: Path) -> None:
    path = download(RemoteFile(f"{server}/hub/x", "hub.bin"), tmp_path / "m", offline=False)
    assert path.read_bytes() == PAYLOAD
    with pytest.raises(CorruptCheckpointError, match="does not match"):
        download(RemoteFile(f"{server}/badhub/x", "bad.bin"), tmp_path / "m", offline=False)
    assert not (tmp_path / "m" / "bad.bin").exists()


def test_wrong_published_checksum_keeps_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(CorruptCheckpointError):
        remote = RemoteFile(f"{server}/f", "f.bin", sha256="deadbeef")
        download(remote, tmp_path / "m", offline=False)
    assert list((tmp_path / "m").glob("*")) == []


def test_http_error_is_model_unavailable(server: str, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="cannot download"):
        download(RemoteFile(f"{server}/missing", "m.bin"), tmp_path / "m", offline=False)
    assert list((tmp_path / "m").glob("*")) == []


def test_offline_never_connects(server: str, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="downloads are off"):
        download(RemoteFile(f"{server}/file.bin", "o.bin"), tmp_path / "m", offline=True)
    assert _Handler.requests == []
