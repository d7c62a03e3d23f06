"""The discovery pipeline over real store, decoder and scorer, with an in-memory source and a
cheap deterministic embedder (the real backbone is tested in tests/ml and tests/app)."""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from astrolens.domain.errors import SourceUnavailableError
from astrolens.domain.events import (
    CycleFinished,
    DuplicateSeen,
    Event,
    ImageQuarantined,
    PipelineState,
    PipelineStateChanged,
)
from astrolens.domain.images import ImageGroup, Provenance, RawImage
from astrolens.domain.scoring import Verdict
from astrolens.domain.sources import FetchTask, SourceState, SourceStatus
from astrolens.imaging.decoder import ImageDecoder
from astrolens.ml.scoring.ensemble import EnsembleScorer
from astrolens.pipeline.discovery import DiscoveryPipeline, PipelineConfig
from astrolens.pipeline.executors import Executors
from astrolens.store.blobs import FileBlobStore
from astrolens.store.repository import SqliteRepository
from tests.conftest import SHARED_DATA

BENCH = SHARED_DATA / "bench"


def _bench_files(subtype: str, split: str) -> list[Path]:
    manifest = BENCH / "manifest.csv"
    if not manifest.exists():
        pytest.skip("../shared/data/bench is not present")
    with manifest.open() as fh:
        rows = list(csv.DictReader(fh))
    return [
        BENCH / r["path"]
        for r in rows
        if r["track"] == "hsc" and r["split"] == split and r["subtype"] == subtype
    ]


def hsc_normal(i: int) -> bytes:
    """A real HSC galaxy cutout (96 px PNG)."""
    return _bench_files("galaxy", "reference")[i].read_bytes()


def hsc_odd(i: int) -> bytes:
    """A real HSC outlier (artefact-dominated), far from normal galaxies."""
    return _bench_files("top_outlier", "test")[i].read_bytes()


def png_bytes(i: int) -> bytes:
    return hsc_normal(i)


class TinyEmbedder:
    """Colour thumbnail (4x4 per channel) + channel statistics: cheap and deterministic."""

    model_id = "test-tiny@1"
    dim = 54

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        out = []
        for im in images:
            rgb = np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im[..., :3]
            h, w = rgb.shape[:2]
            small = rgb[: h - h % 4, : w - w % 4].reshape(4, h // 4, 4, w // 4, 3).mean((1, 3))
            stats = np.concatenate([rgb.mean((0, 1)), rgb.std((0, 1))])
            v = np.concatenate([small.ravel(), stats]).astype(np.float32)
            out.append(v / (np.linalg.norm(v) + 1e-9))
        return np.stack(out)


class MemorySource:
    """A source over in-memory images, with scriptable failures and a real cursor."""

    def __init__(self, items: dict[str, bytes], *, source_id: str = "mem") -> None:
        self.items = items
        self._id = source_id
        self.done: list[str] = []
        self.fetched: list[str] = []
        self.unavailable = False
        self.fetch_delay = 0.0

    @property
    def id(self) -> str:
        return self._id

    @property
    def group(self) -> ImageGroup:
        return ImageGroup.SURVEY

    def status(self) -> SourceStatus:
        state = SourceState.UNAVAILABLE if self.unavailable else SourceState.ACTIVE
        return SourceStatus(self._id, state)

    async def plan(self, limit: int) -> list[FetchTask]:
        todo = [u for u in self.items if u not in self.done][:limit]
        return [FetchTask(self._id, u, cursor=u) for u in todo]

    async def fetch(self, task: FetchTask) -> RawImage:
        if self.unavailable:
            raise SourceUnavailableError(f"{self._id} is down")
        if self.fetch_delay:
            await asyncio.sleep(self.fetch_delay)
        self.fetched.append(task.uri)
        return RawImage(
            Provenance(self._id, task.uri), task.uri.rsplit("/", 1)[-1], self.items[task.uri]
        )

    async def mark_done(self, task: FetchTask) -> None:
        self.done.append(task.uri)

    async def aclose(self) -> None:
        pass


@pytest.fixture
def env(tmp_path: Path):
    executors = Executors.create(io_threads=2)
    repo = executors.db.submit(SqliteRepository, tmp_path / "db.sqlite3").result()
    blobs = FileBlobStore(tmp_path / "blobs")
    yield repo, blobs, executors
    executors.db.submit(repo.close).result()
    executors.shutdown()


def make_pipeline(env, sources, events=None, **config) -> DiscoveryPipeline:
    repo, blobs, executors = env
    cfg = PipelineConfig(
        min_reference=20, batch_size=16, batch_wait_s=0.05, crossmatch=False, **config
    )
    return DiscoveryPipeline(
        sources=sources,
        decoder=ImageDecoder(),
        embedder=TinyEmbedder(),
        scorer_factory=lambda: EnsembleScorer(alpha=0.1),
        repository=repo,
        blobs=blobs,
        executors=executors,
        events=events,
        config=cfg,
    )


async def until(condition, limit_s: float = 20.0) -> None:
    """Poll a condition on the loop (the pipeline exposes no event for every test's need)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def db(env, fn):
    repo, _, executors = env
    return executors.db.submit(fn, repo).result()


def normal_set(n: int, start: int = 0) -> dict[str, bytes]:
    return {f"mem://normal/{i}.png": hsc_normal(i) for i in range(start, start + n)}


async def test_first_cycle_stores_everything_and_flags_the_odd_ones(env) -> None:
    items = normal_set(60)
    items.update({f"mem://odd/{i}.png": hsc_odd(i) for i in range(4)})
    source = MemorySource(items)
    events: list[Event] = []
    report = await make_pipeline(env, [source], events.append).run_cycle()

    assert report.ingested == 64
    assert db(env, lambda r: r.count_images()) == 64
    assert sorted(source.done) == sorted(items)  # every task's cursor moved, once stored
    scored = {s.record.provenance.uri: s.result for s in report.scored}
    assert len(scored) == 64 and all(r is not None for r in scored.values())
    odd = [scored[u].score for u in scored if "/odd/" in u]
    normal = [scored[u].score for u in scored if "/normal/" in u]
    assert np.mean(odd) > np.percentile(normal, 90)
    assert any(isinstance(e, CycleFinished) for e in events)


async def test_second_cycle_scores_against_the_stored_reference(env) -> None:
    source = MemorySource(normal_set(40))
    pipeline = make_pipeline(env, [source])
    await pipeline.run_cycle()
    source.items.update({"mem://odd/x.png": hsc_odd(7), **normal_set(5, start=210)})
    report = await pipeline.run_cycle()
    assert report.ingested == 6
    results = {s.record.provenance.uri: s.result for s in report.scored}
    assert results["mem://odd/x.png"].verdict in (Verdict.ANOMALY, Verdict.NEAR_MISS)
    assert results["mem://odd/x.png"].calibration_version >= 1
    odd = results["mem://odd/x.png"]
    normals = [r for u, r in results.items() if "/normal/" in u]
    assert odd.p_value <= min(r.p_value for r in normals)  # ties at 1/(n+1) are possible
    assert odd.score > max(r.score for r in normals)


async def test_corrupt_and_html_inputs_are_quarantined_and_the_run_continues(env) -> None:
    items = normal_set(25)
    items["mem://bad/truncated.png"] = png_bytes(1)[:40]
    items["mem://bad/page.jpg"] = b"<!DOCTYPE html><html><body>Rate limit exceeded</body></html>"
    events: list[Event] = []
    report = await make_pipeline(env, [MemorySource(items)], events.append).run_cycle()
    assert report.ingested == 25 and report.quarantined == 2
    reasons = {e.uri: e.reason for e in events if isinstance(e, ImageQuarantined)}
    assert set(reasons) == {"mem://bad/truncated.png", "mem://bad/page.jpg"}
    assert all(reasons.values())
    assert {q.uri for q in db(env, lambda r: r.quarantined())} == set(reasons)
    # Quarantined inputs are not fetched again.
    assert db(env, lambda r: r.has_uri("mem://bad/page.jpg"))


async def test_the_same_image_twice_is_one_record_and_a_sighting(env) -> None:
    items = normal_set(22)
    items["mem://again/copy.png"] = items["mem://normal/3.png"]
    events: list[Event] = []
    report = await make_pipeline(env, [MemorySource(items)], events.append).run_cycle()
    assert report.ingested == 22 and report.duplicates == 1
    assert any(isinstance(e, DuplicateSeen) and e.uri == "mem://again/copy.png" for e in events)
    assert db(env, lambda r: r.count_images()) == 22


async def test_an_unavailable_source_does_not_stop_the_others(env) -> None:
    good = MemorySource(normal_set(21), source_id="good")
    bad = MemorySource({"mem://x/1.png": png_bytes(1)}, source_id="bad")
    bad.unavailable = True
    report = await make_pipeline(env, [bad, good]).run_cycle()
    assert report.ingested == 21 and report.unavailable == 1
    assert bad.done == []  # its cursor did not move past work it never did


async def test_pause_stops_pulling_and_resume_continues(env) -> None:
    source = MemorySource(normal_set(30))
    source.fetch_delay = 0.02
    states: list[PipelineState] = []

    def on_event(e: Event) -> None:
        if isinstance(e, PipelineStateChanged):
            states.append(e.state)

    pipeline = make_pipeline(env, [source], on_event, fetch_workers=1)
    task = asyncio.create_task(pipeline.run_cycle())
    await until(lambda: len(source.fetched) >= 3)
    pipeline.pause()
    await asyncio.sleep(0.1)  # let an in-flight fetch finish
    frozen = len(source.fetched)
    await asyncio.sleep(0.3)
    assert len(source.fetched) == frozen < 30
    assert not task.done()
    pipeline.resume()
    report = await asyncio.wait_for(task, 30)
    assert report.ingested == 30
    assert PipelineState.PAUSED in states


async def test_stop_cancels_a_running_loop_within_its_timeout(env) -> None:
    source = MemorySource(normal_set(200))
    source.fetch_delay = 0.05
    pipeline = make_pipeline(env, [source], fetch_workers=1)
    runner = pipeline.start(interval_s=3600)
    await until(lambda: bool(source.fetched))
    started = time.monotonic()
    await pipeline.stop(grace_s=5)
    assert time.monotonic() - started < 5
    assert runner.done()
    assert pipeline.state is PipelineState.STOPPED
    # Whatever was stored is whole: every stored image has its blob on disk.
    ids = db(env, lambda r: r.embeddings(TinyEmbedder.model_id)[0])
    records = [db(env, lambda r, i=i: r.get_image(i)) for i in ids]
    paths = [Path(rec.image_path) for rec in records if rec.image_path]
    assert len(paths) == len(records)
    assert all(await asyncio.to_thread(lambda: [p.exists() for p in paths]))
    # And the cursor never ran ahead of what was stored.
    assert set(source.done) <= {rec.provenance.uri for rec in records}


async def test_run_forever_repeats_cycles_and_picks_up_new_items(env) -> None:
    source = MemorySource(normal_set(21))
    finished: list[CycleFinished] = []

    def on_event(e: Event) -> None:
        if isinstance(e, CycleFinished):
            finished.append(e)

    pipeline = make_pipeline(env, [source], on_event)
    pipeline.start(interval_s=0.05)
    await until(lambda: bool(finished))
    source.items.update(normal_set(3, start=200))
    await until(lambda: sum(f.ingested for f in finished) >= 24)
    await pipeline.stop()
    assert sum(f.ingested for f in finished) == 24


def _pipeline_with(env, sources, *, saved=None, factory=None) -> DiscoveryPipeline:
    repo, blobs, executors = env
    return DiscoveryPipeline(
        sources=sources,
        decoder=ImageDecoder(),
        embedder=TinyEmbedder(),
        scorer_factory=factory or (lambda: EnsembleScorer(alpha=0.1)),
        repository=repo,
        blobs=blobs,
        executors=executors,
        config=PipelineConfig(min_reference=20, batch_size=16, batch_wait_s=0.05, crossmatch=False),
        saved_scorers=saved,
    )


async def test_a_new_run_loads_the_saved_scorer_and_judges_as_a_refit_would(
    env, tmp_path: Path
) -> None:
    from astrolens.ml.scoring.saved_state import ScorerStateFiles

    saved = ScorerStateFiles(tmp_path / "scorers")
    first = normal_set(40)
    later = {"mem://odd/x.png": hsc_odd(7), **normal_set(6, start=210)}
    await _pipeline_with(env, [MemorySource(dict(first))], saved=saved).run_cycle()
    # One file: the survey group's one look-alike kind (domain/lookalike.py) of these images.
    assert len(list((tmp_path / "scorers").glob(f"{ImageGroup.SURVEY.value}-*.npz"))) == 1

    fits: list[int] = []

    class CountingScorer(EnsembleScorer):
        def fit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            fits.append(1)
            return super().fit(*args, **kwargs)

    # What a refit at start-up would build: the same scorer on the same stored reference.
    model = TinyEmbedder.model_id
    _, reference = db(env, lambda r: r.reference_vectors(model, ImageGroup.SURVEY, 5000))
    expected = EnsembleScorer(alpha=0.1)
    expected.fit(reference, group="survey", model_id=model)

    source = MemorySource({**first, **later})
    source.done = list(first)
    restarted = _pipeline_with(
        env, [source], saved=saved, factory=lambda: CountingScorer(alpha=0.1)
    )
    report = await restarted.run_cycle()
    assert fits == []  # loaded, not refitted from the archive
    loaded = {s.record.id: s.result for s in report.scored}
    assert {s.record.provenance.uri for s in report.scored} == set(later)
    ids, vectors = db(env, lambda r: r.embeddings_of(model, list(loaded)))
    for image_id, want in zip(ids, expected.score(vectors), strict=True):
        got = loaded[image_id]
        assert got is not None
        assert (got.score, got.p_value) == (want.score, want.p_value)


async def test_a_batch_is_stored_in_one_transaction_with_its_candidates(env) -> None:
    repo, _, _ = env
    items = normal_set(40)
    items.update({f"mem://odd/{i}.png": hsc_odd(i) for i in range(3)})
    calls: list[int] = []
    original = repo.add_scored_images

    def counting(batch):  # type: ignore[no-untyped-def]
        calls.append(len(batch))
        return original(batch)

    repo.add_scored_images = counting
    try:
        report = await make_pipeline(env, [MemorySource(items)]).run_cycle()
    finally:
        del repo.add_scored_images
    assert report.ingested == 43
    assert sum(calls) == 43 and len(calls) < 43  # whole batches, not one commit per image
    flagged = [s for s in report.scored if s.result and s.result.verdict is not Verdict.NORMAL]
    for scored in flagged:  # the candidates the writes returned are what the store holds
        assert db(env, lambda r, i=scored.record.id: r.get_candidate(i)) is not None
