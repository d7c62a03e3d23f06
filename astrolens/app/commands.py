"""CLI commands: each builds the app, does one job, renders it, returns an exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console

from astrolens.app import render
from astrolens.app.arguments import require_paths
from astrolens.app.context import AppOptions, AstroLensApp
from astrolens.domain.errors import ConfigurationError
from astrolens.domain.events import Event, Progress
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.ports import RunStore
from astrolens.domain.records import CandidateOrder, LabelState
from astrolens.domain.scoring import Verdict
from astrolens.pipeline.discovery import CycleReport, DiscoveryPipeline, PipelineConfig

EXIT_NO_INPUT = 3


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


# ---------------------------------------------------------------------- scan


async def _run_one_cycle(pipeline: DiscoveryPipeline) -> CycleReport:
    try:
        return await pipeline.run_cycle()
    finally:
        await pipeline.stop()


def scan(args: argparse.Namespace) -> int:
    paths = require_paths(args.paths)
    console = _console()
    app = AstroLensApp(
        options=AppOptions(
            aggressive=True if args.aggressive else None,
            crossmatch=False if args.no_crossmatch else None,
            offline_catalogs=args.offline,
        )
    )
    try:
        with render.cycle_progress(console) as on_event:
            # One cycle over everything: the per-cycle cap is for the continuous loop.
            config = PipelineConfig(tasks_per_source=10**9, interval_s=app.settings.interval_s)
            pipeline = app.pipeline([app.folder_source(paths)], events=on_event, config=config)
            report = asyncio.run(_run_one_cycle(pipeline))
        render.scan_report(console, report, app, top=args.top)
    finally:
        app.close()
    if report.ingested == 0 and report.duplicates == 0 and report.quarantined > 0:
        return EXIT_NO_INPUT
    return 0


# ---------------------------------------------------------------------- run --headless


def run_headless(args: argparse.Namespace) -> int:
    console = _console()
    app = AstroLensApp(
        options=AppOptions(
            aggressive=True if getattr(args, "aggressive", False) else None,
            crossmatch=False if getattr(args, "no_crossmatch", False) else None,
        )
    )
    interval = getattr(args, "interval", None)
    try:
        sources = app.enabled_sources()
        wanted = getattr(args, "sources", None)
        if wanted:
            sources = [s for s in sources if s.id in wanted]
        if not sources:
            raise ConfigurationError("no source is enabled; enable one in settings.toml")
        console.print(
            f"AstroLens headless: sources {', '.join(s.id for s in sources)}; "
            f"data in {app.paths.data_dir}"
        )

        def on_event(event: Event) -> None:
            line = "" if isinstance(event, Progress) else render.event_line(event)
            if line:  # per-image events say nothing in a log; candidates do
                console.print(line)

        config = PipelineConfig(
            interval_s=interval if interval is not None else app.settings.interval_s
        )
        if getattr(args, "api", False) or app.settings.api_enabled:
            return _run_headless_api(args, app, sources, config, on_event)
        pipeline = app.pipeline(sources, events=on_event, config=config)
        if getattr(args, "calibrate", False):
            pipeline.request_calibration()
        asyncio.run(_headless_loop(pipeline, once=getattr(args, "once", False)))
    finally:
        app.close()
    return 0


def _run_headless_api(
    args: argparse.Namespace,
    app: AstroLensApp,
    sources: list,  # type: ignore[type-arg]
    config: PipelineConfig,
    on_event: Callable[[Event], None],
) -> int:
    """Discovery and the local API in one loop, through the agent runtime the window uses."""
    from astrolens.app.agent import AgentRuntime
    from astrolens.app.commands_api import api_port, serve_with, wait_for_signal

    runtime = AgentRuntime(app)
    runtime.subscribe(on_event)
    pipeline = app.pipeline(sources, events=runtime.emit, config=config)
    if getattr(args, "calibrate", False):
        pipeline.request_calibration()
    once = getattr(args, "once", False)

    async def until() -> None:
        if once:
            await pipeline.run_cycle()
        else:
            runtime.start(pipeline)
            await wait_for_signal()

    asyncio.run(serve_with(runtime, app, api_port(args, app), until()))
    return 0


async def _headless_loop(pipeline: DiscoveryPipeline, *, once: bool) -> None:
    if once:
        await _run_one_cycle(pipeline)
        return
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runner = pipeline.start()
    stopper = asyncio.create_task(stop.wait(), name="astrolens-signal-wait")
    await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    await pipeline.stop()
    if runner.done() and not runner.cancelled() and runner.exception():
        raise runner.exception()  # type: ignore[misc]


# ---------------------------------------------------------------------- score


def score(args: argparse.Namespace) -> int:
    from astrolens.services.batch_score import score_paths, write_scores_csv

    reference = require_paths([args.reference])[0]
    if not reference.is_dir():
        raise ConfigurationError(f"--reference must be a folder: {reference}")
    queries = require_paths(args.queries)
    app = AstroLensApp(
        options=AppOptions(aggressive=True if args.aggressive else None, model=args.model)
    )
    try:
        rows, stats = score_paths(
            app, reference, queries, thorough=args.thorough, morphology=args.morphology
        )
    finally:
        app.close()
    if args.output:
        with args.output.open("w", newline="") as fh:
            write_scores_csv(rows, fh)
    else:
        write_scores_csv(rows, sys.stdout)
    print(
        f"scored {stats.queries} images against {stats.reference} reference images "
        f"in {stats.seconds:.1f} s ({stats.images_per_s:.1f} images/s); "
        f"{stats.failed} unreadable",
        file=sys.stderr,
    )
    return 0 if rows else EXIT_NO_INPUT


# ---------------------------------------------------------------------- inspection


def candidates(args: argparse.Namespace) -> int:
    app = AstroLensApp()
    try:
        verdicts = (
            [Verdict.ANOMALY, Verdict.NEAR_MISS]
            if args.verdict == "all"
            else [Verdict(args.verdict)]
        )
        order = CandidateOrder.RANK_SCORE if args.order == "rank" else CandidateOrder.SCORE
        label_state = LabelState.UNLABELLED if args.unlabelled else LabelState.ANY
        found = app.db(
            lambda repo: repo.candidates(
                verdicts=verdicts, limit=args.limit, order=order, label_state=label_state
            )
        )
    finally:
        app.close()
    if args.json:
        print(json.dumps([render.candidate_dict(c) for c in found], indent=2))
    else:
        render.candidates_table(_console(), found)
    return 0


def show(args: argparse.Namespace) -> int:
    from astrolens.services.heads import heads_dir, predict_with_heads

    app = AstroLensApp()
    try:
        candidate = app.db(lambda repo: repo.get_candidate(args.id))
        annotations = app.db(lambda repo: repo.annotations(args.id))
        predictions = []
        if candidate is not None and heads_dir(app).is_dir():  # no heads: no model to load
            model_id = app.embedder.model_id
            vector = app.db(lambda repo: repo.embedding_vector(args.id, model_id))
            predictions = predict_with_heads(heads_dir(app), model_id, vector)
    finally:
        app.close()
    if candidate is None:
        raise ConfigurationError(f"no candidate with id {args.id} (see `astrolens candidates`)")
    if args.json:
        data = render.candidate_dict(candidate)
        data["predictions"] = [
            {"task": p.task, "run_id": p.run_id, "top": [list(t) for t in p.top]}
            for p in predictions
        ]
        data["annotations"] = [render.annotation_dict(a) for a in annotations]
        print(json.dumps(data, indent=2))
    else:
        render.candidate_detail(_console(), candidate)
        for p in predictions:
            _console().print(f"  {p.text()}")
        render.annotations_text(_console(), annotations)
    return 0


def label(args: argparse.Namespace) -> int:
    value = {"tp": LabelValue.TRUE_POSITIVE, "fp": LabelValue.FALSE_POSITIVE}.get(
        args.value, LabelValue.UNSURE
    )
    app = AstroLensApp()
    try:
        if app.db(lambda repo: repo.get_image(args.id)) is None:
            raise ConfigurationError(f"no image with id {args.id}")
        new = Label(
            args.id, value, author="cli", created_at=datetime.now(UTC), note=args.note, origin="cli"
        )
        app.db(lambda repo: repo.add_label(new))
        print(f"labelled {args.id} as {value.value}")
        reranked = _rerank(app)
    finally:
        app.close()
    if reranked is not None:
        print(f"re-ranked {reranked} queued candidates")
    return 0


def _rerank(app: AstroLensApp) -> int | None:
    """The label changes the queue's order now, as it does in the window. A failure here
    loses nothing (the label is stored; the agent re-ranks on its next label or start)."""
    from astrolens.services.learning import LearningService

    async def go() -> int:
        service = LearningService(app)
        try:
            return await service.rerank()
        finally:
            service.close()

    try:
        return asyncio.run(go())
    except Exception as exc:
        print(f"warning: the label is saved but re-ranking failed: {exc}", file=sys.stderr)
        return None


def _cursor(repo: RunStore, *, source_id: str) -> str | None:
    return repo.get_cursor(source_id)


def sources(args: argparse.Namespace) -> int:
    from astrolens.sources import registry

    app = AstroLensApp()
    try:
        cursors = {
            sid: app.db(functools.partial(_cursor, source_id=sid)) for sid in registry.registered()
        }
        render.sources_table(_console(), registry.registered(), app.settings, cursors)
    finally:
        app.close()
    from astrolens.settings.secrets import get_secret

    key = get_secret("nasa_api_key")
    if key.error:
        _console().print(f"API keys: {key.error}", markup=False)
    return 0


def quarantine(args: argparse.Namespace) -> int:
    app = AstroLensApp()
    try:
        rows = app.db(lambda repo: repo.quarantined())
    finally:
        app.close()
    render.quarantine_table(_console(), rows)
    return 0
