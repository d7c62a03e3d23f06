"""CrossMatchNotifyStage without a desktop: the real cross-matcher over the bundled OpenNGC
catalog and the real store. (tests/pipeline/stages/test_crossmatch_notify_desktop.py runs it
with the online catalogs' replay servers and the real notifier on a private D-Bus.)"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from astrolens.catalogs.matcher import CatalogCrossMatcher
from astrolens.catalogs.openngc import OpenNGCCatalog
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict, CrossMatch
from astrolens.domain.errors import AstroLensError
from astrolens.domain.events import CatalogChecked
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.scoring import Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.pipeline.stages.crossmatch_notify import CrossMatchNotifyStage
from astrolens.pipeline.stages.handoff import MatchQueue, MatchRequest
from tests.pipeline.stages.conftest import Stores, count_calls, drain, run_until_joined
from tests.store.builders import MODEL, decoded, embedding, now, result

M51 = SkyPosition(202.4696, 47.1952)
EMPTY_SKY = SkyPosition(10.0, -30.0)


def _candidate(stores: Stores, seed: int, sky: SkyPosition | None, verdict: Verdict) -> Candidate:
    image = decoded(seed, sky=sky, uri=f"file:///scan/{seed}.png")
    rec = stores.db(
        lambda r: r.add_scored_image(image, None, None, embedding(seed), MODEL, result(verdict))
    )
    candidate = stores.db(lambda r: r.get_candidate(rec.id))
    assert candidate is not None
    return candidate


class Notifications:
    """Records what the stage hands a notifier (the real one is tested on a desktop)."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[list[int], str]] = []
        self.fail = fail

    async def available(self) -> tuple[bool, str]:
        return True, ""

    async def notify_candidates(self, candidates: Sequence[Candidate], scanned: str = "") -> None:
        if self.fail:
            raise OSError("the notification server went away")
        self.sent.append(([c.id for c in candidates], scanned))


class CatalogsDown:
    """A cross-matcher that fails outright (the real one reports per-service errors)."""

    async def crossmatch(self, position: SkyPosition, radius_arcsec: float) -> list[CrossMatch]:
        raise AstroLensError("catalog client crashed")


def _stage(stores: Stores, crossmatcher: Any = "openngc", **kw: Any) -> CrossMatchNotifyStage:
    if crossmatcher == "openngc":
        crossmatcher = CatalogCrossMatcher([OpenNGCCatalog()], stores.ex.io)
    return CrossMatchNotifyStage(
        repository=stores.repo,
        executors=stores.ex,
        emit=stores.events.append,
        crossmatcher=crossmatcher,
        **kw,
    )


async def test_ask_saves_every_answer_in_one_transaction_and_says_the_new_verdict(
    stores: Stores,
) -> None:
    known = _candidate(stores, 1, M51, Verdict.ANOMALY)
    assert known.catalog_verdict is CatalogVerdict.PENDING
    saves = count_calls(stores.repo, "save_crossmatches")
    single = count_calls(stores.repo, "save_crossmatch")
    refreshed, results = await _stage(stores).ask(known)

    assert [args[0] for args in saves] == [known.id] and single == []
    assert refreshed.catalog_verdict is CatalogVerdict.KNOWN_OBJECT
    assert [(e.image_id, e.verdict) for e in stores.of(CatalogChecked)] == [
        (known.id, CatalogVerdict.KNOWN_OBJECT)
    ]
    assert any(o.name.replace(" ", "").startswith("M51") for r in results for o in r.objects)
    # The radius comes from the image's pixel scale (domain.crossmatch.search_radius_arcsec).
    from astrolens.domain.crossmatch import search_radius_arcsec

    radius = search_radius_arcsec(known.image.provenance.pixel_scale_arcsec, None)
    assert {r.radius_arcsec for r in results} == {radius}
    stored = stores.db(lambda r: r.get_candidate(known.id))
    assert stored == refreshed  # what the transaction returned is what the store holds


async def test_with_no_position_or_no_catalogs_nothing_is_asked(stores: Stores) -> None:
    unplaced = _candidate(stores, 2, None, Verdict.ANOMALY)
    placed = _candidate(stores, 3, EMPTY_SKY, Verdict.ANOMALY)
    saves = count_calls(stores.repo, "save_crossmatches")
    assert await _stage(stores).ask(unplaced) == (unplaced, [])
    assert await _stage(stores, crossmatch=False).ask(placed) == (placed, [])
    assert await _stage(stores, crossmatcher=None).ask(placed) == (placed, [])
    assert saves == [] and not stores.of(CatalogChecked)


async def test_unlabelled_anomalies_are_held_for_one_notification_per_scan(
    stores: Stores,
) -> None:
    anomaly = _candidate(stores, 4, EMPTY_SKY, Verdict.ANOMALY)
    near = _candidate(stores, 5, EMPTY_SKY, Verdict.NEAR_MISS)
    retried = _candidate(stores, 6, M51, Verdict.ANOMALY)
    labelled = _candidate(stores, 7, None, Verdict.ANOMALY)
    stores.db(lambda r: r.add_label(Label(labelled.id, LabelValue.FALSE_POSITIVE, "me", now())))
    labelled = stores.db(lambda r: r.get_candidate(labelled.id))
    notifier = Notifications()
    stage = _stage(stores, notifier=notifier)

    checked = await stage.check(anomaly, notify=True)
    assert checked.catalog_verdict is CatalogVerdict.POSSIBLE_DISCOVERY
    await stage.check(near, notify=True)  # a near-miss is not notified
    await stage.check(retried, notify=False)  # a retry: notified when it was found
    await stage.check(labelled, notify=True)  # the user has seen it
    assert stage.held == 1
    assert await stage.finish("folder demo (4 new images)") == 1
    assert notifier.sent == [([anomaly.id], "folder demo (4 new images)")]
    assert await stage.finish("the next cycle") == 0 and len(notifier.sent) == 1


async def test_an_anomaly_is_notified_even_when_the_catalogs_fail(stores: Stores) -> None:
    anomaly = _candidate(stores, 8, EMPTY_SKY, Verdict.ANOMALY)
    notifier = Notifications()
    stage = _stage(stores, crossmatcher=CatalogsDown(), notifier=notifier)
    with pytest.raises(AstroLensError):
        await stage.check(anomaly, notify=True)
    assert stage.held == 1
    assert await stage.finish("scan") == 1 and notifier.sent == [([anomaly.id], "scan")]


async def test_a_notification_failure_does_not_fail_the_cycle(stores: Stores) -> None:
    stage = _stage(stores, notifier=Notifications(fail=True))
    await stage.check(_candidate(stores, 9, None, Verdict.ANOMALY), notify=True)
    assert await stage.finish("scan") == 1
    assert await _stage(stores, notifier=Notifications(), notify=False).finish("scan") == 0


async def test_the_worker_checks_the_pending_queue_and_outlives_a_failure(
    stores: Stores,
) -> None:
    pending = _candidate(stores, 10, M51, Verdict.ANOMALY)
    failing = _candidate(stores, 11, EMPTY_SKY, Verdict.ANOMALY)
    stage = _stage(stores)
    queue: MatchQueue = asyncio.Queue()
    await stage.enqueue_pending(queue)
    requests = await drain(queue)
    assert {r.candidate.id for r in requests} == {pending.id, failing.id}
    assert not any(r.notify for r in requests)  # retries are not notified again
    await _stage(stores, crossmatch=False).enqueue_pending(queue)
    assert queue.empty()

    broken = _stage(stores, crossmatcher=CatalogsDown())
    queue.put_nowait(MatchRequest(failing, True))
    await run_until_joined(broken.run(queue), queue)  # logged, the worker goes on
    for request in requests:
        queue.put_nowait(request)
    await run_until_joined(stage.run(queue), queue)
    checked = {e.image_id: e.verdict for e in stores.of(CatalogChecked)}
    assert checked == {
        pending.id: CatalogVerdict.KNOWN_OBJECT,
        failing.id: CatalogVerdict.POSSIBLE_DISCOVERY,
    }
    assert stores.db(lambda r: r.pending_crossmatches(10)) == []
