"""A local HTTP server that plays SIMBAD (TAP), NED and VizieR from recorded answers.

The real astroquery code talks to it over real HTTP on 127.0.0.1, pointed there through
each client's URL parameter. Recorded responses are read from ../shared/data at test time.
SIMBAD has no recorded cone answer, so the server answers cones from a small sky of objects
(M1 from the recorded `simbad_M1.vot`, plus a few) with a VOTable written by
`astropy.io.votable.from_table` using SIMBAD's TAP column names.

Faults, per service, set on `server.faults[service]`: "delay", "500", "blacklist", "empty",
"error_votable", "renamed".
"""

from __future__ import annotations

import io
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BLACKLIST_PAGE = (
    b"<!DOCTYPE html><html><head><title>SIMBAD</title></head><body>"
    b"<h1>Your IP address has been blacklisted</h1><p>Too many queries per second.</p>"
    b"</body></html>"
)
EMPTY_VIZIER = b"""<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE ID="yCat_147" name="V/147"><INFO name="QUERY_STATUS" value="OK"/></RESOURCE>
</VOTABLE>"""
ERROR_VIZIER = b"""<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<INFO ID="Error" name="Error" value="*** Unknown catalog V/999"/>
<RESOURCE type="results"><INFO name="QUERY_STATUS" value="ERROR">Unknown catalog</INFO>
</RESOURCE></VOTABLE>"""
ERROR_TAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
<INFO name="QUERY_STATUS" value="ERROR">Incorrect ADQL query: column "otype" not found</INFO>
</RESOURCE></VOTABLE>"""
_CIRCLE = re.compile(r"CIRCLE\('ICRS',\s*([-\d.e]+),\s*([-\d.e]+),\s*([-\d.e]+)\)")


@dataclass
class SkyObject:
    main_id: str
    ra: float
    dec: float
    otype: str
    rvz_redshift: float | None = None


@dataclass
class Hit:
    service: str
    at: float
    path: str
    body: str


@dataclass
class FakeServices:
    data: Path
    base: str = ""
    faults: dict[str, str] = field(default_factory=dict)
    vizier_file: str = "vizier/tests/data/afgl2591_iram.xml"
    sky: list[SkyObject] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    delay: float = 3.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def simbad_url(self) -> str:
        return f"{self.base}/simbad/sim-tap"

    @property
    def ned_url(self) -> str:
        return f"{self.base}/cgi-bin/"

    @property
    def vizier_url(self) -> str:
        return self.base

    def hits_for(self, service: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.service == service]

    def read(self, rel: str) -> bytes:
        return (self.data / "catalog-responses" / rel).read_bytes()

    # -- answers ----------------------------------------------------------------------
    def simbad_answer(self, query: str) -> bytes:
        from astropy.io.votable import from_table
        from astropy.table import Table

        if "TAP_SCHEMA" in query:
            return self.read("simbad/tests/data/simbad_basic_columns.xml")
        cones = [tuple(map(float, m)) for m in _CIRCLE.findall(query)]
        from astrolens.domain.sky import SkyPosition

        found = [
            o
            for o in self.sky
            if any(
                SkyPosition(ra, dec).separation_arcsec(SkyPosition(o.ra, o.dec)) <= r * 3600
                for ra, dec, r in cones
            )
        ]
        fault = self.faults.get("simbad")
        if fault == "empty":
            found = []
        names = ["main_id", "ra", "dec", "otype", "rvz_redshift"]
        if fault == "renamed":  # the pre-0.4.8 SIMBAD spelling
            names = ["MAIN_ID", "RA", "DEC", "OTYPE", "RVZ_REDSHIFT"]
        table = Table(
            [
                [o.main_id for o in found] or [""][:0],
                [o.ra for o in found],
                [o.dec for o in found],
                [o.otype for o in found] or [""][:0],
                [o.rvz_redshift if o.rvz_redshift is not None else float("nan") for o in found],
            ],
            names=names,
            dtype=[str, float, float, str, float],
        )
        out = io.BytesIO()
        from_table(table).to_xml(out)
        return out.getvalue()

    def ned_answer(self, params: dict[str, str]) -> bytes:
        fault = self.faults.get("ned")
        if fault == "error_votable":
            return self.read("ipac/ned/tests/data/error.xml")
        near_orion = abs(float(params.get("lat", 0)) - (-5.391111)) < 0.05
        if fault == "empty" or not near_orion:
            # NED's own way of saying "nothing there": its error VOTable, that message.
            return self.read("ipac/ned/tests/data/error.xml").replace(
                b" No note found.", b" No object found."
            )
        body = self.read("ipac/ned/tests/data/query_near_position.xml")
        if fault == "renamed":
            body = body.replace(b'name="Object Name"', b'name="Objname"')
        return body

    def vizier_answer(self) -> bytes:
        fault = self.faults.get("vizier")
        if fault == "empty":
            return EMPTY_VIZIER
        if fault == "error_votable":
            return ERROR_VIZIER
        body = self.read(self.vizier_file)
        if fault == "renamed":
            body = body.replace(b'name="_RAJ2000"', b'name="_RA"').replace(
                b'name="_DEJ2000"', b'name="_DE"'
            )
        return body


def _handler(services: FakeServices) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _service(self) -> str:
            if self.path.startswith("/simbad"):
                return "simbad"
            if self.path.startswith("/cgi-bin"):
                return "ned"
            return "vizier"

        def _reply(self, status: int, body: bytes, ctype: str = "text/xml") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self, body: str) -> None:
            service = self._service()
            with services.lock:
                services.hits.append(
                    Hit(service, time.monotonic(), self.path, urllib.parse.unquote_plus(body))
                )
            fault = services.faults.get(service)
            if fault == "delay":
                time.sleep(services.delay)
            if fault == "500":
                return self._reply(500, b"Internal Server Error", "text/plain")
            if fault == "blacklist":
                return self._reply(200, BLACKLIST_PAGE, "text/html")
            if service == "simbad":
                form = urllib.parse.parse_qs(body)
                query = (form.get("QUERY") or form.get("query") or [""])[0]
                if fault == "error_votable":
                    return self._reply(200, ERROR_TAP, "application/x-votable+xml")
                return self._reply(200, services.simbad_answer(query))
            if service == "ned":
                query = urllib.parse.urlparse(self.path).query
                params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
                return self._reply(200, services.ned_answer(params))
            return self._reply(200, services.vizier_answer())

        def do_GET(self) -> None:
            self._handle(urllib.parse.urlparse(self.path).query)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._handle(self.rfile.read(length).decode("utf-8", "replace"))

    return Handler


@pytest.fixture
def services(shared_data: Path) -> Iterator[FakeServices]:
    fake = FakeServices(shared_data)
    from astropy.io.votable import parse_single_table

    m1 = parse_single_table(
        str(shared_data / "catalog-responses/esa/jwst/tests/data/simbad_M1.vot")
    ).to_table()[0]
    fake.sky = [
        SkyObject(str(m1["main_id"]), float(m1["ra"]), float(m1["dec"]), "SNR"),
        SkyObject("M  51", 202.469575, 47.195258, "Sy2", 0.00155),
        SkyObject("NGC  5195", 202.498, 47.2662, "GiP", 0.00196),
    ]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
