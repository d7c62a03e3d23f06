"""CLI of the learning loop: `astrolens train ...` and `astrolens runs`."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from astrolens.app.context import AstroLensApp
from astrolens.domain.errors import ConfigurationError
from astrolens.domain.events import Event, Progress
from astrolens.domain.learning import TrainingRequest
from astrolens.domain.records import TrainingRun


def add_learning_parsers(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    add_common: Callable[[argparse.ArgumentParser], None],
) -> None:
    train = sub.add_parser(
        "train",
        help="fine-tune the classification head on your labels or a labelled dataset",
        description="Trains a head on frozen embeddings (with --blocks, the backbone's last "
        "blocks too); it replaces the current model only if it scores better on held-out "
        "labels. Every run is recorded (see `astrolens runs`).",
    )
    add_common(train)
    train.add_argument(
        "--dataset", type=Path, help="Galaxy10 DECaLS .h5 or a folder of class folders"
    )
    train.add_argument(
        "--with-labels",
        action="store_true",
        help="with --dataset: also your verification labels (the dataset's class folders "
        "must be interesting / not_interesting)",
    )
    train.add_argument("--epochs", type=int, help="default: 200 for a head, 15 with --blocks")
    train.add_argument("--lr", type=float, help="default: 0.01 for a head, 3e-4 with --blocks")
    train.add_argument("--holdout", type=float, default=0.25)
    train.add_argument("--max-images", type=int, help="use at most this many dataset images")
    train.add_argument(
        "--blocks",
        type=int,
        default=0,
        help="also fine-tune the backbone's last N blocks (needs torch; if the new backbone "
        "wins, it becomes the model and the archive is re-embedded)",
    )
    runs = sub.add_parser("runs", help="every training run: data, metrics before/after, kept?")
    add_common(runs)
    runs.add_argument("--json", action="store_true")


def _delta(run: TrainingRun, metric: str = "balanced_accuracy") -> str:
    before, after = run.metrics_before.get(metric), run.metrics_after.get(metric)
    if before is None or after is None:
        return ""
    return f"{100 * (after - before):+.1f} pt"


def runs_table(console: Console, runs: list[TrainingRun]) -> None:
    table = Table(title="Training runs (balanced accuracy on held-out labels)")
    for column in (
        "id",
        "started",
        "data",
        "trained",
        "status",
        "before",
        "after",
        "change",
        "kept",
    ):
        table.add_column(column)
    for run in runs:
        before = run.metrics_before.get("balanced_accuracy")
        after = run.metrics_after.get("balanced_accuracy")
        table.add_row(
            str(run.id),
            run.started_at.strftime("%Y-%m-%d %H:%M"),
            run.data_description[-40:],
            f"head + {run.parameters['backbone_blocks']} blocks"
            if run.parameters.get("backbone_blocks")
            else "head",
            run.status.value,
            "" if before is None else f"{before:.3f}",
            "" if after is None else f"{after:.3f}",
            _delta(run),
            "yes" if run.promoted else "no",
        )
    console.print(table)
    for run in runs:
        if run.new_model:
            console.print(f"run {run.id} promoted the backbone {run.new_model}")
        elif run.status.value == "failed" and run.parameters.get("error"):
            console.print(f"run {run.id} did not finish: {run.parameters['error']}")


def train(args: argparse.Namespace) -> int:
    from astrolens.services.learning import LearningService

    request = TrainingRequest(
        dataset=args.dataset,
        use_labels=args.dataset is None or args.with_labels,
        epochs=args.epochs,
        learning_rate=args.lr,
        holdout=args.holdout,
        max_images=args.max_images,
        backbone_blocks=args.blocks,
    )
    console = Console(highlight=False)
    app = AstroLensApp()

    def show(event: Event) -> None:
        if isinstance(event, Progress):
            console.print(f"\r{event.stage} {event.done / 10:.0f} %", end="")

    async def go() -> TrainingRun:
        service = LearningService(app, show)
        try:
            run: TrainingRun = await service.train(request)
            return run
        finally:
            service.close()

    try:
        run = asyncio.run(go())
    except ValueError as exc:  # no usable labels, a malformed dataset: the user's to fix
        raise ConfigurationError(str(exc)) from exc
    finally:
        app.close()
    console.print()
    runs_table(console, [run])
    if run.new_model is not None:
        _switch_model(app, run.new_model)
        console.print(
            f"The fine-tuned backbone is now the model ({run.new_model}). The agent re-embeds"
            " the archive in the background when it next runs; vectors of the old model are"
            " kept apart, never mixed."
        )
    return 0


def _switch_model(app: AstroLensApp, spec: str) -> None:
    import dataclasses

    from astrolens.settings.store import save_settings

    save_settings(dataclasses.replace(app.settings, model=spec), app.paths.settings_file)


def runs(args: argparse.Namespace) -> int:
    app = AstroLensApp()
    try:
        found: list[TrainingRun] = app.db(lambda repo: repo.training_runs())
    finally:
        app.close()
    if args.json:
        rows = [
            {
                "id": r.id,
                "model_id": r.model_id,
                "data": r.data_description,
                "parameters": r.parameters,
                "status": r.status.value,
                "metrics_before": r.metrics_before,
                "metrics_after": r.metrics_after,
                "promoted": r.promoted,
                "started_at": r.started_at.isoformat(),
            }
            for r in found
        ]
        print(json.dumps(rows, indent=2))
    else:
        runs_table(Console(highlight=False), found)
    return 0
