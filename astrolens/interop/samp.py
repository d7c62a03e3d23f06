"""SAMP 1.3: send candidates to TOPCAT, Aladin and DS9, hear what they point at.

pyvo.samp is astropy.samp moved (astropy 8 deprecates the old module); same API.

`SampLink` is one registered client named AstroLens. Its methods make XML-RPC calls and write
files, so they block: the app calls them on its `io` executor, never on the loop. Messages
from other tools arrive on astropy's own receiver thread; `on_event` must be thread-safe (the
app hands them to the loop with `call_soon_threadsafe`).

Tables and images travel by file URL (SAMP's convention for local clients): they are written
under `work_dir` and kept until the link closes, because the receiver reads them later.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from astrolens import __version__
from astrolens.domain.candidates import Candidate
from astrolens.domain.errors import SourceUnavailableError
from astrolens.domain.sky import SkyPosition
from astrolens.domain.toolbox import (
    RowHighlighted,
    SampEvent,
    SampMType,
    SampStatus,
    SkyPointed,
)
from astrolens.interop.candidate_table import candidates_table
from astrolens.interop.export import write_atomically

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"  # never advertise the machine's public name: SAMP is local
NO_HUB = (
    "no SAMP hub is running: start TOPCAT, Aladin or DS9 (each runs one), "
    "or start one with `astrolens samp hub`"
)
CLIENT_METADATA = {
    "samp.name": "AstroLens",
    "samp.description.text": "Anomaly candidates from AstroLens",
    "astrolens.version": __version__,
}


class SampUnavailableError(SourceUnavailableError):
    """No hub, or the hub stopped answering."""


def point_at_params(position: SkyPosition) -> dict[str, str]:
    # SAMP values are strings; coord.pointAt.sky wants ICRS degrees.
    return {"ra": f"{position.ra_deg:.7f}", "dec": f"{position.dec_deg:+.7f}"}


def parse_point_at(params: dict[str, Any]) -> SkyPosition | None:
    try:
        return SkyPosition(float(params["ra"]), float(params["dec"]))
    except (KeyError, TypeError, ValueError):
        return None


class SampLink:
    def __init__(
        self,
        work_dir: Path,
        on_event: Callable[[SampEvent], None],
        *,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.work_dir = work_dir
        self.on_event = on_event
        self._client_factory = client_factory
        self._client: Any = None
        self._hub: Any = None
        self._lock = threading.Lock()  # one XML-RPC conversation at a time
        self._tables: dict[str, list[int]] = {}  # table-id -> candidate id of each row
        self._files: list[Path] = []
        self._counter = itertools.count(1)

    # ------------------------------------------------------------------ connection

    @property
    def connected(self) -> bool:
        return self._client is not None and bool(self._client.is_connected)

    def connect(self) -> SampStatus:
        """Register with the running hub (found through $SAMP_HUB or ~/.samp)."""
        from pyvo.samp import SAMPHubError, SAMPIntegratedClient

        with self._lock:
            if not self.connected:
                client = (
                    self._client_factory()
                    if self._client_factory
                    else SAMPIntegratedClient(
                        name="AstroLens", metadata=dict(CLIENT_METADATA), addr=LOOPBACK
                    )
                )
                try:
                    client.connect()
                except (SAMPHubError, OSError) as exc:
                    log.info("SAMP connect failed: %s", exc)
                    raise SampUnavailableError(NO_HUB) from exc
                for mtype in (SampMType.POINT_AT_SKY, SampMType.HIGHLIGHT_ROW):
                    client.bind_receive_notification(mtype.value, self._on_notification)
                    client.bind_receive_call(mtype.value, self._on_call)
                self._client = client
            return self._status()

    def status(self) -> SampStatus:
        with self._lock:
            return self._status()

    def _status(self) -> SampStatus:
        if not self.connected:
            return SampStatus(False, NO_HUB)
        # The hub registers itself as a client; the user wants to know about the tools.
        hub_id = getattr(getattr(self._client, "client", None), "_hub_id", None)
        ids = [c for c in self._client.get_registered_clients() if c != hub_id]
        names = self._client_names(ids)
        others = ", ".join(names) if names else "no other application yet"
        return SampStatus(True, f"connected to the SAMP hub ({others})", tuple(names))

    def start_hub(self) -> SampStatus:
        """A hub of our own, for when the user asks and none runs (it lives as long as we do)."""
        from pyvo.samp import SAMPHubServer

        with self._lock:
            if self._hub is None:
                hub = SAMPHubServer(web_profile=False, addr=LOOPBACK)
                hub.start(wait=False)
                self._hub = hub
        return self.connect()

    def close(self, *, keep_files: bool = False) -> None:
        """Unregister (and stop our own hub). `keep_files`: a CLI run exits right after
        sending, and the receiver reads the file later, so the files stay in the cache."""
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(Exception):
                    if self._client.is_connected:
                        self._client.disconnect()
                self._client = None
            if self._hub is not None:
                with contextlib.suppress(Exception):
                    self._hub.stop()
                self._hub = None
            for path in [] if keep_files else self._files:
                with contextlib.suppress(OSError):
                    path.unlink()
            self._files.clear()

    # ------------------------------------------------------------------ sending

    def _require(self) -> Any:
        if not self.connected:
            self.connect()
        return self._client

    def _client_names(self, ids: Sequence[str]) -> list[str]:
        names = []
        for cid in ids:
            try:
                meta = self._client.get_metadata(cid)
            except Exception:
                meta = {}
            names.append(str(meta.get("samp.name", cid)))
        return names

    def _broadcast(self, mtype: SampMType, params: dict[str, str], what: str) -> str:
        client = self._require()
        with self._lock:
            try:
                listening = list(client.get_subscribed_clients(mtype.value))
                if not listening:
                    return (
                        f"no application on the SAMP hub accepts {mtype.value} "
                        f"(open TOPCAT, Aladin or DS9 first)"
                    )
                client.notify_all({"samp.mtype": mtype.value, "samp.params": params})
                names = self._client_names(listening)
            except Exception as exc:  # the hub went away mid-conversation
                self._client = None
                raise SampUnavailableError(f"the SAMP hub stopped answering: {exc}") from exc
        return f"sent {what} to {', '.join(names)} ({mtype.value})"

    def _keep(self, name: str) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        path = self.work_dir / name
        self._files.append(path)
        return path

    def send_table(self, candidates: Sequence[Candidate]) -> str:
        table_id = f"astrolens-{next(self._counter)}"
        path = self._keep(f"{table_id}.vot")
        table = candidates_table(candidates)
        write_atomically(path, lambda temp: table.write(temp, format="votable", overwrite=True))
        self._tables[table_id] = [c.id for c in candidates]
        params = {
            "url": path.as_uri(),
            "table-id": table_id,
            "name": f"AstroLens candidates ({len(candidates)})",
        }
        return self._broadcast(SampMType.TABLE_LOAD_VOTABLE, params, f"{len(candidates)} rows")

    def point_at(self, position: SkyPosition) -> str:
        return self._broadcast(SampMType.POINT_AT_SKY, point_at_params(position), str(position))

    def send_image(self, fits_path: Path, name: str) -> str:
        image_id = f"astrolens-image-{next(self._counter)}"
        params = {"url": fits_path.as_uri(), "image-id": image_id, "name": name}
        return self._broadcast(SampMType.IMAGE_LOAD_FITS, params, name)

    def image_file(self, stem: str) -> Path:
        """Where to write an image to send (kept until close)."""
        return self._keep(f"{stem}-{next(self._counter)}.fits")

    # ------------------------------------------------------------------ receiving

    def _on_notification(
        self, private_key: str, sender_id: str, mtype: str, params: dict[str, Any], extra: Any
    ) -> None:
        self._receive(sender_id, mtype, params)

    def _on_call(
        self,
        private_key: str,
        sender_id: str,
        msg_id: str,
        mtype: str,
        params: dict[str, Any],
        extra: Any,
    ) -> None:
        handled = self._receive(sender_id, mtype, params)
        response: dict[str, Any] = (
            {"samp.status": "samp.ok", "samp.result": {}}
            if handled
            else {
                "samp.status": "samp.warning",
                "samp.result": {},
                "samp.error": {"samp.errortxt": "AstroLens did not recognise the position or row"},
            }
        )
        with contextlib.suppress(Exception):
            self._client.reply(msg_id, response)

    def _receive(self, sender_id: str, mtype: str, params: dict[str, Any]) -> bool:
        event: SampEvent | None = None
        if mtype == SampMType.POINT_AT_SKY.value:
            position = parse_point_at(params)
            if position is not None:
                event = SkyPointed(position, sender_id)
        elif mtype == SampMType.HIGHLIGHT_ROW.value:
            ids = self._tables.get(str(params.get("table-id", "")))
            if ids is None:  # some tools send only the URL
                url = str(params.get("url", ""))
                ids = next((v for k, v in self._tables.items() if url.endswith(f"{k}.vot")), None)
            try:
                row = int(params.get("row", -1))
            except (TypeError, ValueError):
                row = -1
            if ids is not None and 0 <= row < len(ids):
                event = RowHighlighted(ids[row], sender_id)
        if event is None:
            log.info("ignored SAMP %s from %s: %s", mtype, sender_id, params)
            return False
        self.on_event(event)
        return True
