"""FolderSource: stable planning, triplet grouping, cursor resume, vanished files."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from astrolens.domain.cursors import InMemoryCursorStore
from astrolens.domain.errors import ConfigurationError, UnreadableImageError
from astrolens.domain.images import ImageGroup
from astrolens.domain.ports import ImageSource
from astrolens.domain.sources import SourceState
from astrolens.imaging import ImageDecoder
from astrolens.sources import registry
from astrolens.sources.folder import FolderSource, list_entries


@pytest.fixture
def demo_copy(shared_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    root.mkdir()
    names = (
        "normal__J132053.75+121041.6.jpg",
        "normal__cosmos_idx930469_objectid43153636661928257_score1985.png",
        "picture_or_fits__M51.fits",
    )
    for name in names:
        shutil.copy(shared_data / "demo" / name, root / name)
    nested = root / "nested" / "ztf"
    nested.mkdir(parents=True)
    for path in (shared_data / "demo").glob("ztf__ZTF24aajbcje_*.fits"):
        shutil.copy(path, nested / path.name)
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.jpg").write_bytes(b"")
    return root


def test_is_an_image_source_and_registered(demo_copy: Path) -> None:
    source = FolderSource([demo_copy])
    assert isinstance(source, ImageSource)
    assert source.id == "folder"
    assert FolderSource([demo_copy], name="mine").id == "folder:mine"
    assert "folder" in registry.registered()
    assert isinstance(registry.create("folder", paths=[demo_copy]), FolderSource)


def test_missing_path_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        FolderSource([tmp_path / "nowhere"])


def test_listing_is_stable_sorted_and_groups_triplets(demo_copy: Path) -> None:
    entries = list_entries([demo_copy], recursive=True)
    assert [e.key for e in entries] == sorted(e.key for e in entries)
    assert len(entries) == 4  # 3 files + 1 triplet; .txt and hidden files skipped
    (triplet,) = [e for e in entries if e.companions]
    assert set(triplet.companions or {}) == {"science", "template", "difference"}
    assert triplet.path.name.endswith("_science.fits")
    assert len(list_entries([demo_copy], recursive=False)) == 3


async def test_plan_fetch_and_decode_every_task(demo_copy: Path) -> None:
    source = FolderSource([demo_copy])
    tasks = await source.plan(100)
    assert len(tasks) == 4
    decoder = ImageDecoder()
    groups = []
    for task in tasks:
        raw = await source.fetch(task)
        assert raw.provenance.uri == task.uri and raw.provenance.source_id == "folder"
        decoded = decoder.decode(raw)
        groups.append(decoded[0].group)
        await source.mark_done(task)
    assert ImageGroup.TRANSIENT in groups
    assert await source.plan(100) == []
    assert source.status().state is SourceState.EXHAUSTED
    assert source.status().fetched == 4


async def test_restart_resumes_with_what_the_store_knows(demo_copy: Path) -> None:
    stored: set[str] = set()

    async def known(uris: Sequence[str], fingerprints: object = None) -> set[str]:
        return stored & set(uris)

    store = InMemoryCursorStore()
    first = FolderSource([demo_copy], cursor_store=store, known_uris=known)
    batch = await first.plan(2)
    assert len(batch) == 2
    # Planned but not done: a second plan in the same run hands out the next ones.
    assert [t.uri for t in await first.plan(1)] != [t.uri for t in batch]
    stored.add(batch[0].uri)
    await first.mark_done(batch[0])
    assert store.cursors["folder"] == batch[0].cursor  # progress, for the user to see

    restarted = FolderSource([demo_copy], cursor_store=store, known_uris=known)
    resumed = await restarted.plan(10)
    assert resumed[0].uri == batch[1].uri  # everything not stored, in order
    assert batch[0].uri not in {t.uri for t in resumed}
    assert len(resumed) == 3


async def test_out_of_order_completion_never_skips_a_task(demo_copy: Path) -> None:
    store = InMemoryCursorStore()
    source = FolderSource([demo_copy], cursor_store=store)
    a, b, c = await source.plan(3)
    await source.mark_done(c)
    await source.mark_done(b)
    assert "folder" not in store.cursors  # a is not done: the cursor may not pass it
    await source.mark_done(a)
    assert store.cursors["folder"] == c.cursor


async def test_vanished_file_is_unreadable(demo_copy: Path) -> None:
    source = FolderSource([demo_copy])
    tasks = await source.plan(10)
    await asyncio.to_thread(Path(tasks[0].meta["path"]).unlink)
    with pytest.raises(UnreadableImageError, match="vanished"):
        await source.fetch(tasks[0])
    assert source.status().failed == 1


async def test_single_file_path(shared_data: Path) -> None:
    path = shared_data / "fits" / "M51.fits"
    source = FolderSource([path])
    (task,) = await source.plan(5)
    raw = await source.fetch(task)
    assert raw.data == path.read_bytes()
