"""SAMP against a real hub (pyvo.samp, formerly astropy.samp) on loopback, with a second
client playing TOPCAT/Aladin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from PIL import Image
from pyvo.samp import SAMPHubServer

from astrolens.domain.sky import SkyPosition
from astrolens.domain.toolbox import RowHighlighted, SampEvent, SkyPointed
from astrolens.interop.fits_image import write_candidate_fits
from astrolens.interop.samp import NO_HUB, SampLink, SampUnavailableError
from tests.interop.candidates import candidate, sample
from tests.interop.samp_helpers import Receiver, hub, receiver

__all__ = ["hub", "receiver"]  # fixtures, imported for pytest


@pytest.fixture
def link(tmp_path: Path) -> Iterator[tuple[SampLink, list[SampEvent]]]:
    events: list[SampEvent] = []
    samp = SampLink(tmp_path / "samp", events.append)
    try:
        yield samp, events
    finally:
        samp.close()


def _path(url: str) -> Path:
    return Path(url2pathname(urlparse(url).path))


def _wait_for(events: list[SampEvent], n: int = 1, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(events) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(events) >= n, f"expected {n} events, got {events}"


def test_no_hub_says_so(link: tuple[SampLink, list[SampEvent]]) -> None:
    samp, _ = link
    with pytest.raises(SampUnavailableError) as exc:
        samp.connect()
    assert str(exc.value) == NO_HUB
    assert not samp.status().connected


def test_each_message_type_reaches_the_other_tool(
    receiver: Receiver, link: tuple[SampLink, list[SampEvent]], tmp_path: Path
) -> None:
    samp, _ = link
    status = samp.connect()
    assert status.connected and status.clients == ("FakeTopcat",)  # not the hub itself

    cands = sample()
    assert "FakeTopcat" in samp.send_table(cands)
    params = receiver.wait("table.load.votable")
    table = Table.read(_path(params["url"]), format="votable")
    assert list(table["id"]) == [c.id for c in cands]
    assert table["ra"].unit == "deg" and table["ra"].info.meta["ucd"] == "pos.eq.ra;meta.main"
    assert params["table-id"].startswith("astrolens-")

    pos = SkyPosition(202.4696, 47.1953)
    assert "FakeTopcat" in samp.point_at(pos)
    params = receiver.wait("coord.pointAt.sky")
    assert float(params["ra"]) == pytest.approx(202.4696) and float(params["dec"]) == 47.1953

    jpg = tmp_path / "cutout.jpg"
    rgb = np.zeros((64, 80, 3), dtype=np.uint8)
    rgb[:10, :, 0] = 255  # a red band at the top of the picture
    Image.fromarray(rgb).save(jpg)
    cand = candidate(7, pos, image_path=str(jpg))
    out = samp.image_file("candidate-7")
    assert write_candidate_fits(cand, out) is True
    samp.send_image(out, "AstroLens #7")
    params = receiver.wait("image.load.fits")
    with fits.open(_path(params["url"])) as hdus:
        header, data = hdus[0].header, hdus[0].data
    assert data.shape == (64, 80)
    assert data[-1].mean() > data[0].mean()  # FITS row 0 is the bottom of the picture
    world = WCS(header).pixel_to_world((80 - 1) / 2, (64 - 1) / 2)  # the centre pixel
    assert world.ra.deg == pytest.approx(pos.ra_deg) and world.dec.deg == pytest.approx(pos.dec_deg)
    # one pixel to the right is west (RA decreases) by the pixel scale
    east = WCS(header).pixel_to_world((80 - 1) / 2 + 1, (64 - 1) / 2)
    assert (pos.ra_deg - east.ra.deg) * np.cos(np.radians(pos.dec_deg)) * 3600 == pytest.approx(
        0.396, rel=1e-3
    )


def test_pointer_and_row_highlight_come_back(
    receiver: Receiver, link: tuple[SampLink, list[SampEvent]]
) -> None:
    samp, events = link
    samp.connect()
    cands = sample()
    samp.send_table(cands)
    table_id = receiver.wait("table.load.votable")["table-id"]

    receiver.client.notify_all(
        {"samp.mtype": "coord.pointAt.sky", "samp.params": {"ra": "150.1001", "dec": "2.2"}}
    )
    _wait_for(events, 1)
    assert isinstance(events[0], SkyPointed)
    assert events[0].position.separation_arcsec(SkyPosition(150.1001, 2.2)) < 1e-6

    # TOPCAT sends a row click as a call: AstroLens must answer it.
    astrolens = next(
        cid
        for cid in receiver.client.get_registered_clients()
        if receiver.client.get_metadata(cid).get("samp.name") == "AstroLens"
    )
    reply = receiver.client.call_and_wait(
        astrolens,
        {"samp.mtype": "table.highlight.row", "samp.params": {"table-id": table_id, "row": "2"}},
        "10",
    )
    assert reply["samp.status"] == "samp.ok"
    _wait_for(events, 2)
    assert events[1] == RowHighlighted(cands[2].id, events[1].sender)


def test_nothing_listening_is_a_clear_message(
    hub: SAMPHubServer, link: tuple[SampLink, list[SampEvent]]
) -> None:
    samp, _ = link
    assert "no application on the SAMP hub accepts table.load.votable" in samp.send_table(sample())
