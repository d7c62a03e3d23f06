"""A real SAMP hub on loopback and a second client that records what it receives, as TOPCAT
or Aladin would."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pyvo.samp import SAMPHubServer, SAMPIntegratedClient

from astrolens.interop.samp import LOOPBACK

MTYPES = ("table.load.votable", "image.load.fits", "coord.pointAt.sky")


class Receiver:
    """A second SAMP client: records every message it gets, as TOPCAT would load it."""

    def __init__(self) -> None:
        self.client = SAMPIntegratedClient(name="FakeTopcat", addr=LOOPBACK)
        self.client.connect()
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.arrived = threading.Event()
        for mtype in MTYPES:
            self.client.bind_receive_notification(mtype, self._note)

    def _note(self, key: str, sender: str, mtype: str, params: dict[str, Any], extra: Any) -> None:
        self.got.append((mtype, params))
        self.arrived.set()

    def last(self, mtype: str) -> dict[str, Any] | None:
        """The newest message of this type so far (for waits that must keep Qt running)."""
        found = [params for got_type, params in self.got if got_type == mtype]
        return found[-1] if found else None

    def wait(self, mtype: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for got_type, params in self.got:
                if got_type == mtype:
                    return params
            self.arrived.wait(0.1)
            self.arrived.clear()
        raise AssertionError(f"no {mtype} arrived; got {self.got}")


@pytest.fixture
def hub() -> Iterator[SAMPHubServer]:
    # Found by the client through ~/.samp: HOME is the test's own temp folder.
    server = SAMPHubServer(web_profile=False, addr=LOOPBACK)
    server.start(wait=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def receiver(hub: SAMPHubServer) -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.client.disconnect()
