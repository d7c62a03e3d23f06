"""End to end: a label given through the controller the UI drives changes the next candidates.

Real store (SQLite), real calibrated EnsembleScorer, real re-ranker; only the backbone is
replaced by fixed vectors (embedding is not what is under test, and torch is slow here).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from astrolens.app.agent import AgentRuntime
from astrolens.app.context import AstroLensApp
from astrolens.domain.agent import CandidateQuery
from astrolens.domain.embedding import Embedding
from astrolens.domain.events import Progress
from astrolens.domain.labels import LabelValue
from astrolens.domain.learning import TRAINING_STAGE, TrainingRequest
from astrolens.domain.records import TrainingStatus
from astrolens.ml.scoring.ensemble import EnsembleScorer
from astrolens.settings.paths import app_paths

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from builders import decoded

MODEL = "stub-backbone"
DIM = 16


class FixedEmbedder:
    model_id = MODEL
    dim = DIM


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def populate(app: AstroLensApp) -> dict[str, list[int]]:
    """Two kinds of candidates, scored by a real calibrated scorer: "artefacts" far from the
    reference (the detectors love them) and "mergers" that are less extreme. The simulated user
    finds the mergers interesting."""
    app.__dict__["embedder"] = FixedEmbedder()  # the cached_property's slot
    rng = np.random.default_rng(0)
    axes = np.eye(DIM)
    reference = unit(axes[0] + 0.1 * rng.standard_normal((80, DIM)))
    scorer = EnsembleScorer()
    scorer.fit(reference, group="survey", model_id=MODEL)
    artefacts = unit(axes[0] + 2.0 * axes[1] + 0.1 * rng.standard_normal((8, DIM)))
    mergers = unit(axes[0] + 0.9 * axes[2] + 0.1 * rng.standard_normal((8, DIM)))
    groups: dict[str, list[int]] = {"artefact": [], "merger": []}
    results = scorer.score(np.vstack([artefacts, mergers]))

    def store(repo: object) -> None:
        for i, (vector, result) in enumerate(
            zip(np.vstack([artefacts, mergers]), results, strict=True)
        ):
            record = repo.add_scored_image(  # type: ignore[attr-defined]
                decoded(i), None, None, Embedding(MODEL, vector), MODEL, result
            )
            groups["artefact" if i < 8 else "merger"].append(record.id)

    app.db(store)
    return groups


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[tuple[AgentRuntime, dict[str, list[int]]]]:
    app = AstroLensApp(paths=app_paths(tmp_path / "home"))
    groups = populate(app)
    agent = AgentRuntime(app)
    yield agent, groups
    await agent.shutdown()
    app.close()


async def user_says(agent: AgentRuntime, groups: dict[str, list[int]], rows: slice) -> None:
    """The simulated user: artefacts are false positives, mergers are interesting."""
    for i in groups["artefact"][rows]:
        await agent.label(i, LabelValue.FALSE_POSITIVE)
    for i in groups["merger"][rows]:
        await agent.label(i, LabelValue.TRUE_POSITIVE)


async def shown(agent: AgentRuntime, n: int = 8) -> list[int]:
    page = await agent.candidates(CandidateQuery(order_by="rank", labelled=False, limit=n))
    return [c.id for c in page]


async def test_false_positive_labels_bring_the_other_candidates_forward(runtime) -> None:
    agent, groups = runtime
    everything = await agent.candidates(CandidateQuery(order_by="score", limit=50))
    assert len(everything) == 16, "the scorer should flag both clusters"
    by_score = [c.id for c in everything][:8]
    assert set(by_score) == set(groups["artefact"]), "unsupervised: artefacts first"

    # The user reviews what is shown first and calls it a false positive, through the
    # controller the UI drives, until something else comes first.
    rejected = []
    while (first := (await shown(agent, 1))[0]) in groups["artefact"]:
        await agent.label(first, LabelValue.FALSE_POSITIVE)
        rejected.append(first)
        assert len(rejected) <= 3, "three false positives should be enough to re-rank"
    assert rejected, "the first label had something to change"
    next_shown = await shown(agent, 3)
    assert set(next_shown) <= set(groups["merger"]), "the mergers now come first"

    ranked = {c.id: c.rank_score for c in await agent.candidates(CandidateQuery(limit=50))}
    assert all(ranked[i] is not None for i in ranked), "every queued candidate is re-scored"


async def test_true_positive_label_pulls_its_look_alikes_up(runtime) -> None:
    agent, groups = runtime
    await agent.rerank()
    before = await shown(agent, 8)
    assert set(before) == set(groups["artefact"])
    await agent.label(groups["merger"][0], LabelValue.TRUE_POSITIVE)
    after = await shown(agent, 8)
    assert set(after) & set(groups["merger"]), "a merger's look-alikes enter the top 8"


async def test_label_next_never_asks_twice_and_training_is_recorded(runtime) -> None:
    agent, groups = runtime
    first = [c.id for c in await agent.label_next(3)]
    assert len(set(first)) == 3
    await agent.label(first[0], LabelValue.FALSE_POSITIVE)
    assert first[0] not in [c.id for c in await agent.label_next(16)]

    await user_says(agent, groups, slice(0, 4))
    progress: list[Progress] = []
    agent.subscribe(lambda e: progress.append(e) if isinstance(e, Progress) else None)
    reranks = agent.learning.reranker.runs
    agent.train(TrainingRequest(epochs=30, holdout=0.25))
    assert agent.training_active
    await agent.learning.runner.wait()
    await asyncio.sleep(0)  # the run's done-callback schedules the re-rank
    assert agent._rerank_task is not None
    await agent._rerank_task
    assert agent.learning.reranker.runs > reranks, "a promoted head re-ranks the queue"
    (run,) = await agent.training_runs()
    assert run.status is TrainingStatus.FINISHED and run.data_description == "verification labels"
    assert run.metrics_after["balanced_accuracy"] == 1.0
    assert run.metrics_before["baseline_is_majority"] == 1.0
    assert run.promoted and run.parameters["epochs"] == 30
    assert progress and progress[-1].stage == TRAINING_STAGE and progress[-1].done == 1000


async def test_cancelled_training_is_recorded_as_failed(runtime) -> None:
    agent, groups = runtime
    await user_says(agent, groups, slice(0, 4))
    agent.train(TrainingRequest(epochs=100_000))
    agent.cancel_training()
    await agent.learning.runner.wait()
    (run,) = await agent.training_runs()
    assert run.status is TrainingStatus.FAILED and not run.promoted


async def test_a_long_training_run_blocks_neither_the_loop_nor_the_ranking(runtime) -> None:
    agent, groups = runtime
    await user_says(agent, groups, slice(0, 4))
    agent.train(TrainingRequest(epochs=100_000))  # minutes of work on its own thread
    assert agent.training_active
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    # labels, re-ranking and "label next" go on while it trains
    await asyncio.wait_for(agent.label(groups["merger"][5], LabelValue.TRUE_POSITIVE), 10)
    assert len(await asyncio.wait_for(agent.label_next(3), 10)) == 3
    await asyncio.sleep(0.3)
    beat.cancel()
    assert agent.training_active, "still training"
    assert ticks >= 5, "the event loop kept running"
    agent.cancel_training()
    await agent.learning.runner.wait()


async def test_a_later_run_is_judged_on_labels_the_current_head_never_saw(runtime) -> None:
    agent, groups = runtime
    await user_says(agent, groups, slice(0, 4))
    agent.train(TrainingRequest(epochs=30))
    await agent.learning.runner.wait()
    (first,) = await agent.training_runs()
    assert first.promoted
    from astrolens.ml.learning.finetune import ClassifierHead
    from astrolens.services.heads import LABELS_TASK, current_head_path

    seen = set(ClassifierHead.load(current_head_path(agent.app, LABELS_TASK)).meta["trained_on"])
    assert len(seen) == int(first.metrics_after["train_n"])

    await user_says(agent, groups, slice(4, None))
    agent.train(TrainingRequest(epochs=30))
    await agent.learning.runner.wait()
    second = (await agent.training_runs())[0]
    assert second.id != first.id and second.status is TrainingStatus.FINISHED
    # the current head was scored only on held-out labels it had not been trained on
    assert second.metrics_before["unseen_by_current"] == 1.0
    assert second.metrics_before["n"] == second.metrics_after["n"] >= 2
    assert "baseline_is_majority" not in second.metrics_before
