from __future__ import annotations

from astrolens.domain.cursors import InMemoryCursorStore
from astrolens.domain.images import ImageGroup
from astrolens.domain.ports import ImageSource
from astrolens.domain.sources import SourceState
from astrolens.imaging import ImageDecoder
from astrolens.sources import registry
from astrolens.sources.sample_sky import FIELD_CENTRE, SampleSkySource


def test_registered_offline() -> None:
    info = registry.registered()["sample-sky"]
    assert not info.online
    assert isinstance(registry.create("sample-sky"), SampleSkySource)


async def test_sample_sky_yields_tens_of_galaxy_stamps() -> None:
    source = SampleSkySource()
    assert isinstance(source, ImageSource)
    (task,) = await source.plan(10)
    raw = await source.fetch(task)
    assert raw.data[:3] == b"\xff\xd8\xff"  # the JPEG as shipped, not re-encoded
    decoded = ImageDecoder().decode(raw)
    frame, stamps = decoded[0], decoded[1:]
    assert frame.group is ImageGroup.PICTURE and frame.provenance.sky == FIELD_CENTRE
    assert len(stamps) >= 20
    assert all(s.group is ImageGroup.SURVEY and s.provenance.sky is None for s in stamps)
    await source.mark_done(task)
    assert source.status().state is SourceState.EXHAUSTED
    assert await source.plan(10) == []


async def test_done_survives_restart_with_a_cursor_store() -> None:
    store = InMemoryCursorStore()
    first = SampleSkySource(cursor_store=store)
    (task,) = await first.plan(1)
    await first.mark_done(task)
    again = SampleSkySource(cursor_store=store)
    assert await again.plan(1) == []
    assert again.status().state is SourceState.EXHAUSTED
