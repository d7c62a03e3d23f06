"""Every stored image kind renders in every view of the window over the REAL agent.

One real scan (40 HSC reference galaxies, then demo cutouts, a FITS frame that is cut into
.npy stamps and a ZTF triplet) fills a real store; the window asks the real `AgentRuntime`
for display pixels. The checks read the pixmaps' pixels, not just "no exception".
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QImage, QPixmap
from pytestqt.qtbot import QtBot

from astrolens.app.agent import AgentRuntime
from astrolens.domain.agent import CandidateQuery
from astrolens.ui.display import PLACEHOLDER_BG
from astrolens.ui.main_window import MainWindow
from astrolens.ui.viewer import ImageViewer

STAMP_KIND = "stamp cut from a frame"


def _grey(pm: QPixmap) -> np.ndarray:
    img = pm.toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    ptr = img.constBits()
    assert ptr is not None
    ptr.setsize(img.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())
    return rows[:, : img.width()].copy()


def _assert_shows_picture(viewer: ImageViewer, image_id: int) -> str:
    """The viewer shows this image's own pixels: its size, and not a flat or blank field."""
    assert viewer.image_id == image_id
    assert viewer.problem == "", f"#{image_id}: {viewer.problem}"
    shown = viewer.shown
    assert shown is not None
    pm = viewer.view.item.pixmap()
    assert (pm.width(), pm.height()) == (shown.width, shown.height)
    grey = _grey(pm)
    assert int(grey.max()) - int(grey.min()) > 30 and grey.std() > 3, f"#{image_id} is blank"
    return shown.kind


def _wait_settled(qtbot: QtBot, viewer: ImageViewer, image_id: int) -> None:
    qtbot.waitUntil(
        lambda: viewer.image_id == image_id and (viewer.shown is not None or bool(viewer.problem)),
        timeout=15000,
    )


def _run(qtbot: QtBot, coro):  # type: ignore[no-untyped-def]
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=30000)
    return task.result()


def test_every_queued_candidate_renders_in_verification_and_gallery(
    qtbot: QtBot, real_window: MainWindow
) -> None:
    real_window.show_panel("Verification")
    v = real_window.verification
    qtbot.waitUntil(lambda: v.candidate is not None and len(v.queue) > 0, timeout=30000)
    queue = list(v.queue)
    kinds: set[str] = set()
    for image_id in queue:
        v.open_candidate(image_id)
        _wait_settled(qtbot, v.viewer, image_id)
        kinds.add(_assert_shows_picture(v.viewer, image_id))
        assert v.title.text().startswith(f"#{image_id} ")

    real_window.show_panel("Gallery")
    g = real_window.gallery
    qtbot.waitUntil(lambda: g.model.rowCount() > 0, timeout=15000)
    d = g.details
    for image_id in queue:
        g.show_candidate_id(image_id)
        _wait_settled(qtbot, d.viewer, image_id)
        _assert_shows_picture(d.viewer, image_id)

    # The grid's thumbnails: every row gets its own picture, none the "no preview" card.
    model = g.model
    while model.canFetchMore(model.index(0).parent()):
        model.fetchMore(model.index(0).parent())
        qtbot.waitUntil(lambda: not model._fetching, timeout=15000)
    for row in range(model.rowCount()):
        model.data(model.index(row), Qt.ItemDataRole.DecorationRole)
    rows = [model.candidate_at(r).id for r in range(model.rowCount())]  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: all(model.thumbnails.get(i) is not None for i in rows), timeout=30000)
    for image_id in rows:
        thumb = model.thumbnails.get(image_id)
        assert thumb is not None and thumb is not model._unavailable, f"#{image_id}: no thumb"
        grey = _grey(thumb)
        assert int(grey.max()) - int(grey.min()) > 30, f"#{image_id}: blank thumbnail"

    # The demo's FITS frame was cut into stamps stored as .npy: they are in the queue and show.
    assert STAMP_KIND in kinds, kinds


def test_an_image_that_cannot_render_shows_a_placeholder_not_the_previous_picture(
    qtbot: QtBot, real_window: MainWindow, real_runtime: AgentRuntime
) -> None:
    real_window.show_panel("Verification")
    v = real_window.verification
    qtbot.waitUntil(lambda: len(v.queue) >= 2, timeout=30000)
    good, bad = v.queue[0], v.queue[1]
    v.open_candidate(good)
    _wait_settled(qtbot, v.viewer, good)
    _assert_shows_picture(v.viewer, good)

    broken = _run(qtbot, real_runtime.get_candidate(bad))
    path = Path(broken.image.image_path)
    original = path.read_bytes()
    try:
        path.write_bytes(b"<html><body>502 Bad Gateway</body></html>")  # a damaged file
        v.open_candidate(bad)
        _assert_placeholder(qtbot, v.viewer, bad)
        assert v.title.text().startswith(f"#{bad} ")

        real_window.show_panel("Gallery")
        details = real_window.gallery.details
        details.show_candidate(_run(qtbot, real_runtime.get_candidate(good)))
        _wait_settled(qtbot, details.viewer, good)
        _assert_shows_picture(details.viewer, good)
        details.show_candidate(broken)
        _assert_placeholder(qtbot, details.viewer, bad)
    finally:
        path.write_bytes(original)


def _assert_placeholder(qtbot: QtBot, viewer: ImageViewer, image_id: int) -> None:
    _wait_settled(qtbot, viewer, image_id)
    assert viewer.shown is None
    assert "Cannot show this image" in viewer.problem and "HTML" in viewer.problem
    assert "Cannot show this image" in viewer.status.text()
    # the placeholder card is on screen, not the previous candidate's pixels
    assert viewer.view.item.pixmap().toImage().pixelColor(2, 2) == QColor(PLACEHOLDER_BG)


def test_photometry_is_measured_on_the_npy_stamps(qtbot: QtBot, real_runtime: AgentRuntime) -> None:
    from astrolens.ml.features.photometry import PHOTOMETRY_MODEL_ID

    _run(qtbot, real_runtime.learning.catch_up_photometry())
    queue = _run(qtbot, real_runtime.candidates(CandidateQuery(limit=1000)))
    stamps = [c.id for c in queue if (c.image.image_path or "").endswith(".npy")]
    assert stamps, "no .npy stamp among the candidates"
    ids, matrix = _run(
        qtbot, real_runtime._db(lambda r: r.embeddings_of(PHOTOMETRY_MODEL_ID, stamps))
    )
    assert sorted(ids) == sorted(stamps)
    assert np.isfinite(np.asarray(matrix)).all(), "a stamp's photometry is NaN (unread)"
