"""The pipeline's cross-match-and-notify stage with real parts: the real catalog clients
(astroquery) against the local replay servers, a real SQLite store, and the real
desktop-notifier backend talking to dunst on a private D-Bus (tests/desktop/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from astrolens.catalogs.matcher import CatalogCrossMatcher
from astrolens.catalogs.ned import NedClient
from astrolens.catalogs.openngc import OpenNGCCatalog
from astrolens.catalogs.simbad import SimbadClient
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.events import CatalogChecked, Event
from astrolens.domain.scoring import Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.pipeline.executors import Executors, run_in
from astrolens.pipeline.stages.crossmatch_notify import CrossMatchNotifyStage
from astrolens.store.repository import SqliteRepository
from tests.catalogs.conftest import services  # noqa: F401  (the replay servers)
from tests.desktop.conftest import DesktopSession, desktop, wait_for  # noqa: F401
from tests.store.builders import MODEL, decoded, embedding, result

pytestmark = pytest.mark.desktop
M51 = SkyPosition(202.4696, 47.1952)
EMPTY_SKY = SkyPosition(10.0, -30.0)


@pytest.fixture
def executors() -> Iterator[Executors]:
    ex = Executors.create(io_threads=4)
    yield ex
    ex.shutdown()


@pytest.fixture
def on_bus(desktop: DesktopSession, monkeypatch: pytest.MonkeyPatch) -> DesktopSession:  # noqa: F811
    """This process talks to the test's bus (dunst), as the agent does on a desktop."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", desktop.env["DBUS_SESSION_BUS_ADDRESS"])
    desktop.run("dunstctl", "close-all", check=False)
    desktop.run("dunstctl", "history-clear", check=False)
    return desktop


async def eventually(pred: Any, what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _store(repo: SqliteRepository, ex: Executors, rows: list[tuple[Any, ...]]) -> list[Any]:
    out = []
    for seed, sky, name, verdict, score, p in rows:
        image = decoded(seed, sky=sky, uri=f"file:///scan/demo/{name}")
        rec = await run_in(
            ex.db,
            repo.add_scored_image,
            image,
            None,
            None,
            embedding(seed),
            MODEL,
            result(verdict, score=score, p_value=p),
        )
        out.append(await run_in(ex.db, repo.get_candidate, rec.id))
    return out


async def test_a_scan_is_cross_matched_then_notified_once_and_the_action_opens_the_strongest(
    services: Any,  # noqa: F811
    on_bus: DesktopSession,
    executors: Executors,
    tmp_path: Path,
) -> None:
    from astrolens.notify.desktop import DesktopNotifier

    repo = executors.db.submit(SqliteRepository, tmp_path / "db.sqlite3").result()
    tie = 1 / 141
    known, discovery, unplaced, near = await _store(
        repo,
        executors,
        [
            (1, M51, "anomaly__M51.jpg", Verdict.ANOMALY, 3.1, tie),
            (2, EMPTY_SKY, "anomaly__empty.jpg", Verdict.ANOMALY, 4.8, tie),
            (3, None, "anomaly__lens.png", Verdict.ANOMALY, 2.0, 0.0107),
            (4, EMPTY_SKY, "normal__near.jpg", Verdict.NEAR_MISS, 1.5, 0.03),
        ],
    )
    assert unplaced.catalog_verdict is CatalogVerdict.NO_POSITION
    matcher = CatalogCrossMatcher(
        [OpenNGCCatalog(), SimbadClient(services.simbad_url), NedClient(services.ned_url)],
        executors.io,
    )
    reviewed: list[int] = []
    notifier = DesktopNotifier(on_review=reviewed.append, on_dismiss=reviewed.append)
    ok, why = await notifier.available()
    assert ok, why
    events: list[Event] = []
    stage = CrossMatchNotifyStage(
        repository=repo,
        executors=executors,
        emit=events.append,
        crossmatcher=matcher,
        notifier=notifier,
    )
    for cand in (known, discovery, unplaced, near):
        await stage.check(cand, notify=True)

    checked = {e.image_id: e.verdict for e in events if isinstance(e, CatalogChecked)}
    assert checked == {
        known.id: CatalogVerdict.KNOWN_OBJECT,
        discovery.id: CatalogVerdict.POSSIBLE_DISCOVERY,
        near.id: CatalogVerdict.POSSIBLE_DISCOVERY,
    }
    stored = await run_in(executors.db, repo.get_candidate, known.id)
    assert any(o.name.replace(" ", "") == "M51" for x in stored.crossmatches for o in x.objects)
    assert stage.held == 3  # the near-miss is not notified

    assert await stage.finish("folder demo (4 new images)") == 3
    await asyncio.gather(*notifier._tasks)
    wait_for(lambda: on_bus.displayed() == 1, 10, "one notification for the scan")
    await asyncio.sleep(0.5)
    assert on_bus.displayed() == 1
    on_bus.run("dunstctl", "action", "0")  # a click on it
    await eventually(lambda: reviewed, "the click to reach the agent")
    # Equal p-values: the higher score is the strongest, as the review queue ranks it.
    assert reviewed == [discovery.id]
    await eventually(lambda: on_bus.displayed() == 0, "the acted-on notification to close")
    shown = on_bus.notifications()[0]
    assert shown["summary"] == "3 new anomalies in folder demo (4 new images)"
    assert str(shown["body"]).startswith(f"Strongest: #{discovery.id} anomaly__empty.jpg")
    assert "1 not in any catalog" in str(shown["body"])
    await notifier.aclose()
    executors.db.submit(repo.close).result()


async def test_one_anomaly_without_a_sky_position_gets_its_own_notification(
    on_bus: DesktopSession, executors: Executors, tmp_path: Path
) -> None:
    from astrolens.notify.desktop import DesktopNotifier

    repo = executors.db.submit(SqliteRepository, tmp_path / "db.sqlite3").result()
    (unplaced,) = await _store(
        repo, executors, [(3, None, "anomaly__lens.png", Verdict.ANOMALY, 2.0, 0.004)]
    )
    dismissed: list[int] = []
    notifier = DesktopNotifier(on_dismiss=dismissed.append)
    stage = CrossMatchNotifyStage(
        repository=repo, executors=executors, emit=lambda e: None, notifier=notifier
    )
    await stage.check(unplaced, notify=True)
    await stage.finish("folder demo (1 new images)")
    await asyncio.gather(*notifier._tasks)
    wait_for(lambda: on_bus.displayed() == 1, 10, "the notification")
    on_bus.dmenu_choice.write_text("Not interesting")
    on_bus.run("dunstctl", "context")
    await eventually(lambda: dismissed, "the button to reach the agent")
    assert dismissed == [unplaced.id]
    on_bus.run("dunstctl", "close-all", check=False)
    await asyncio.sleep(0.3)
    shown = on_bus.notifications()[0]
    assert str(shown["summary"]).startswith(f"Anomaly #{unplaced.id}: anomaly__lens.png")
    assert "no sky position" in str(shown["body"])
    await notifier.aclose()
    executors.db.submit(repo.close).result()
