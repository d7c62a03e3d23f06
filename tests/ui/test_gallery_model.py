from __future__ import annotations

import time
from pathlib import Path

from PyQt6.QtCore import QModelIndex, QSize, Qt
from PyQt6.QtWidgets import QListView
from pytestqt.qtbot import QtBot

from astrolens.domain.agent import CandidateQuery
from astrolens.domain.scoring import Verdict
from astrolens.ui.gallery_model import CandidateListModel, CandidateRole, ThumbnailCache
from tests.ui.fakes import FakeController


def _icon_view(model: CandidateListModel) -> QListView:
    view = QListView()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setMovement(QListView.Movement.Static)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setUniformItemSizes(True)
    view.setIconSize(QSize(128, 128))
    view.setGridSize(QSize(150, 170))
    view.setModel(model)
    view.resize(900, 700)
    return view


def test_100k_candidates_fetch_only_the_visible_pages(
    qtbot: QtBot, demo_dir: Path, qloop: object
) -> None:
    ctl = FakeController(demo_dir, total=100_000)
    model = CandidateListModel(ctl, page_size=200, cache_size=300)
    view = _icon_view(model)
    qtbot.addWidget(view)
    view.show()
    model.set_query(CandidateQuery())
    qtbot.waitUntil(lambda: model.rowCount() >= 200, timeout=5000)
    qtbot.waitUntil(lambda: model.thumbnails_requested > 0 and len(model.thumbnails) > 0)
    qtbot.wait(200)
    assert model.total == 100_000
    assert model.fetched_offsets == [0], "only the first page is needed to fill the window"
    # Thumbnails: only what the viewport painted (a few rows of ~6 tiles), not the page.
    assert 0 < model.thumbnails_requested <= 60

    # Scrolling to the end of what is loaded asks for exactly the next page.
    view.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() >= 400, timeout=5000)
    assert model.fetched_offsets == [0, 200]
    page_calls = [c for c in ctl.calls if c[0] == "candidates"]
    assert page_calls == [("candidates", (0, 200)), ("candidates", (200, 200))]
    ctl.executor.shutdown()


def test_scrolling_stays_smooth_and_memory_bounded(
    qtbot: QtBot, demo_dir: Path, qloop: object
) -> None:
    ctl = FakeController(demo_dir, total=100_000)
    model = CandidateListModel(ctl, page_size=500, cache_size=120)
    view = _icon_view(model)
    qtbot.addWidget(view)
    view.show()
    model.set_query(CandidateQuery())
    qtbot.waitUntil(lambda: model.rowCount() >= 500, timeout=5000)
    # Page down through 10 pages: each step must repaint quickly, and the cache stays bounded.
    worst = 0.0
    for _ in range(10):
        target = model.rowCount()
        view.scrollToBottom()
        qtbot.waitUntil(lambda t=target: model.rowCount() > t, timeout=5000)
        start = time.perf_counter()
        view.viewport().repaint()
        worst = max(worst, time.perf_counter() - start)
    qtbot.wait(300)
    assert model.rowCount() == 5500
    assert len(model.thumbnails) <= 120
    assert worst < 0.1, f"a repaint took {worst * 1000:.0f} ms"
    ctl.executor.shutdown()


def test_filters_reach_the_controller_and_rows_carry_candidates(
    qtbot: QtBot, controller: FakeController
) -> None:
    model = CandidateListModel(controller)
    model.set_query(CandidateQuery(verdicts=(Verdict.NEAR_MISS,)))
    qtbot.waitUntil(lambda: model.rowCount() > 0)
    cands = [model.data(model.index(r), CandidateRole) for r in range(model.rowCount())]
    assert all(c.result.verdict is Verdict.NEAR_MISS for c in cands)
    assert model.rowCount() == model.total
    assert model.data(model.index(0), Qt.ItemDataRole.DisplayRole)
    assert model.data(QModelIndex(), Qt.ItemDataRole.DisplayRole) is None


def test_lru_cache_evicts_the_least_recently_used() -> None:
    from PyQt6.QtGui import QPixmap

    cache = ThumbnailCache(2)
    cache.put(1, QPixmap(1, 1))
    cache.put(2, QPixmap(1, 1))
    assert cache.get(1) is not None  # 1 becomes the most recent
    cache.put(3, QPixmap(1, 1))
    assert cache.get(2) is None and cache.get(1) is not None and len(cache) == 2
