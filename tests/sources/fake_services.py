"""Local stand-ins for SkyServer, the Legacy Survey viewer, IRSA IBE and api.nasa.gov.

A threaded http.server on 127.0.0.1 answers each service's URL scheme in its real response
format, with real images read from ../shared/data at test time (never copied into the repo):
SDSS/Galaxy Zoo JPEGs, ZTF FITS stamps, ZTF Avro alert packets, an APOD-style picture. It
sends ETag and Last-Modified and honours If-None-Match, and it can inject faults on the next
requests whose path starts with a prefix: slowness, 429 + Retry-After, 500, an HTML page, a
truncated body, a connection reset.

Use `fake_services` (a fixture) and `online_configs(services)` for the four source configs.
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

HTML_ERROR = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
    b"<body><h1>The server is down for maintenance</h1></body></html>"
)
LAST_MODIFIED = email.utils.formatdate(1_700_000_000, usegmt=True)


@dataclass
class Fault:
    kind: str  # slow | 429 | 500 | html | truncate | reset
    seconds: float = 0.0  # slow: delay; 429: Retry-After value
    retry_after: str | None = None  # 429: an explicit header value (e.g. an HTTP-date)


@dataclass
class Logged:
    at: float
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int = 0


@dataclass
class FakeServices:
    data: Path
    base_url: str = ""
    log: list[Logged] = field(default_factory=list)
    _faults: list[tuple[str, Fault]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    apod_today: date = field(default_factory=date.today)
    active: int = 0
    max_active: int = 0
    ibe_rows: int = 5

    # -- fault control -----------------------------------------------------------------------

    def inject(self, prefix: str, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._faults.extend((prefix, fault) for _ in range(times))

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, (prefix, fault) in enumerate(self._faults):
                if path.startswith(prefix):
                    del self._faults[i]
                    return fault
        return None

    def requests_to(self, prefix: str) -> list[Logged]:
        with self._lock:
            return [r for r in self.log if r.path.startswith(prefix)]

    # -- content -----------------------------------------------------------------------------

    def jpeg(self, key: str) -> bytes:
        pool = sorted((self.data / "bench" / "gz" / "reference").glob("*.jpg"))
        return pool[int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(pool)].read_bytes()

    def fits_stamp(self) -> bytes:
        return (self.data / "demo" / "ztf__ZTF24aajbcje_science.fits").read_bytes()

    def avro(self, name: str) -> bytes | None:
        path = self.data / "ztf" / "ztf-avro-alert" / name
        return path.read_bytes() if path.is_file() else None

    def apod_picture(self) -> bytes:
        return (self.data / "demo" / "picture_or_fits__hubble_deep_field.jpg").read_bytes()

    def route(self, path: str, q: dict[str, list[str]]) -> tuple[int, str, bytes]:
        one = {k: v[0] for k, v in q.items()}
        if path.endswith("/SkyServerWS/ImgCutout/getjpeg"):
            return 200, "image/jpeg", self.jpeg(f"{one['ra']},{one['dec']}")
        if path.endswith("/SkyServerWS/SearchTools/SqlSearch"):
            return 200, "text/plain", self._sql_csv(one["cmd"])
        if path == "/viewer/cutout.jpg":
            return 200, "image/jpeg", self.jpeg(f"ls{one['ra']},{one['dec']}")
        if path == "/viewer/cutout.fits":
            return 200, "application/fits", self.fits_stamp()
        if path == "/ibe/search/ztf/products/sci":
            ra, dec = (float(x) for x in one["POS"].split(","))
            return 200, "text/plain", self._ipac_table(ra, dec)
        if path.startswith("/ibe/data/ztf/products/sci/") and path.endswith("_sciimg.fits"):
            return 200, "application/fits", self.fits_stamp()
        if path.startswith("/alerts/"):
            body = self.avro(path.rsplit("/", 1)[-1])
            return (200, "avro/binary", body) if body else (404, "text/plain", b"no such alert")
        if path == "/planetary/apod":
            return self._apod(one)
        if path.startswith("/apod/image/"):
            return 200, "image/jpeg", self.apod_picture()
        return 404, "text/html", b"<html><body>404 Not Found</body></html>"

    def _sql_csv(self, cmd: str) -> bytes:
        # Answer with galaxies inside the query's box, the way SkyServer's CSV looks.
        m = re.search(r"ra BETWEEN ([\d.]+) AND ([\d.]+)", cmd)
        d = re.search(r"dec BETWEEN ([-\d.]+) AND ([-\d.]+)", cmd)
        n = int(re.search(r"TOP (\d+)", cmd).group(1))  # type: ignore[union-attr]
        ra0 = (float(m.group(1)) + float(m.group(2))) / 2 if m else 1.0
        dec0 = (float(d.group(1)) + float(d.group(2))) / 2 if d else 0.0
        lines = ["#Table1", "objID,ra,dec"]
        for i in range(min(n, 3)):
            objid = 1237650000000000000 + int(ra0 * 1000) * 10 + i
            lines.append(f"{objid},{ra0 + i * 0.001:.6f},{dec0 + i * 0.001:.6f}")
        return ("\n".join(lines) + "\n").encode()

    def _ipac_table(self, ra: float, dec: float) -> bytes:
        from astropy.table import Table  # the reference IPAC writer, so the format is real

        rows = []
        for i in range(self.ibe_rows):
            ffd = f"2019{1 + i:02d}1{5 + i}1{i}1234"
            rows.append(
                (
                    ra,
                    dec,
                    600 + i,
                    1 + i,
                    1 + i % 4,
                    ["zg", "zr", "zi"][i % 3],
                    ffd,
                    "o",
                    2458500.5 + i * 30.0,
                    20.5,
                )
            )
        table = Table(
            rows=rows,
            names=(
                "ra",
                "dec",
                "field",
                "ccdid",
                "qid",
                "filtercode",
                "filefracday",
                "imgtypecode",
                "obsjd",
                "maglimit",
            ),
        )
        out = io.StringIO()
        table.write(out, format="ascii.ipac")
        return out.getvalue().encode()

    def _apod(self, one: dict[str, str]) -> tuple[int, str, bytes]:
        if one.get("api_key") in (None, ""):
            return 403, "application/json", b'{"error": {"code": "API_KEY_MISSING"}}'
        start = date.fromisoformat(one["start_date"])
        end = min(date.fromisoformat(one["end_date"]), self.apod_today)
        items: list[dict[str, Any]] = []
        day = start
        while day <= end:
            entry: dict[str, Any] = {
                "date": day.isoformat(),
                "title": f"Picture of {day:%d %B %Y}",
                "explanation": "A real picture of the sky.",
                "service_version": "v1",
            }
            if day.day % 5 == 0:  # some days are videos, as on the real APOD
                entry |= {"media_type": "video", "url": "https://www.youtube.com/embed/xyz?rel=0"}
            else:
                entry |= {
                    "media_type": "image",
                    "url": f"{self.base_url}/apod/image/{day:%y%m%d}.jpg",
                    "hdurl": f"{self.base_url}/apod/image/{day:%y%m%d}_hd.jpg",
                }
            items.append(entry)
            day += timedelta(days=1)
        return 200, "application/json", json.dumps(items).encode()


def _handler(services: FakeServices) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            entry = Logged(
                time.monotonic(),
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
            )
            with services._lock:
                services.log.append(entry)
            with services._lock:
                services.active += 1
                services.max_active = max(services.max_active, services.active)
            try:
                self._serve(parts, entry)
            finally:
                with services._lock:
                    services.active -= 1

        def _serve(self, parts: Any, entry: Logged) -> None:
            fault = services._take_fault(parts.path)
            if fault and fault.kind == "slow":
                time.sleep(fault.seconds)
                fault = None
            if fault and fault.kind == "reset":
                # SO_LINGER 0: close() sends RST, as a crashed proxy would.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                entry.status = -1
                return
            if fault and fault.kind in ("429", "500"):
                status = int(fault.kind)
                headers = {}
                if fault.kind == "429":
                    headers["Retry-After"] = fault.retry_after or str(int(fault.seconds))
                entry.status = status
                self._send(
                    status, "text/plain", b"slow down" if status == 429 else b"oops", headers
                )
                return
            if fault and fault.kind == "html":
                entry.status = 200
                self._send(200, "text/html; charset=utf-8", HTML_ERROR)
                return
            status, ctype, body = services.route(parts.path, parse_qs(parts.query))
            etag = '"' + hashlib.sha1(body).hexdigest() + '"'
            if status == 200 and self.headers.get("If-None-Match") == etag:
                entry.status = 304  # logged before answering: the client may read the log first
                self._send(304, ctype, b"", {"ETag": etag})
                return
            headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED} if status == 200 else {}
            if fault and fault.kind == "truncate":
                entry.status = 200
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            entry.status = status
            self._send(status, ctype, body, headers)

        def _send(
            self, status: int, ctype: str, body: bytes, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if body:
                self.wfile.write(body)

    return Handler


def start_fake_services(data: Path) -> tuple[FakeServices, ThreadingHTTPServer]:
    services = FakeServices(data)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(services))
    server.daemon_threads = True
    services.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return services, server


@pytest.fixture
def fake_services(shared_data: Path) -> Iterator[FakeServices]:
    services, server = start_fake_services(shared_data)
    try:
        yield services
    finally:
        server.shutdown()
        server.server_close()


def online_configs(services: FakeServices, **fast: Any) -> dict[str, Any]:
    """Configs for the four sources pointed at the fake services (fast rates for tests)."""
    from astrolens.sources.apod import ApodConfig
    from astrolens.sources.legacy_survey import LegacySurveyConfig
    from astrolens.sources.sdss import SdssConfig
    from astrolens.sources.ztf import ZtfConfig

    rate = {"max_requests": 50, "period_s": 1.0, "timeout_s": 5.0} | fast
    return {
        "sdss": SdssConfig(base_url=services.base_url, cutout_px=128, **rate),
        "legacy-survey": LegacySurveyConfig(base_url=services.base_url, **rate),
        "ztf": ZtfConfig(base_url=services.base_url, **rate),
        "apod": ApodConfig(
            base_url=services.base_url,
            start_date=services.apod_today - timedelta(days=9),
            **rate,
        ),
    }
