"""Settings over the REAL agent: the real data path, steppable spin boxes, watched folders,
and the keyring said in words."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import QAbstractSpinBox, QStyle, QStyleOptionSpinBox
from pytestqt.qtbot import QtBot

from astrolens.app.agent import AgentRuntime
from astrolens.ui.main_window import MainWindow


def _run(qtbot: QtBot, coro):  # type: ignore[no-untyped-def]
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=30000)
    return task.result()


def test_the_data_folder_shows_the_real_path(real_window: MainWindow, review_home: Path) -> None:
    # ASTROLENS_HOME is set (as in every test): the path in use, not "the platform's folder"
    placeholder = real_window.settings.data_dir.placeholderText()
    assert str(review_home / "data") in placeholder


def test_spin_boxes_show_their_arrows(qtbot: QtBot, real_window: MainWindow) -> None:
    real_window.show_panel("Settings")
    qtbot.wait(200)
    for spin in (real_window.settings.interval, real_window.settings.fdr):
        assert spin.buttonSymbols() is not QAbstractSpinBox.ButtonSymbols.NoButtons
        opt = QStyleOptionSpinBox()
        spin.initStyleOption(opt)
        style = spin.style()
        assert style is not None
        for control in (QStyle.SubControl.SC_SpinBoxUp, QStyle.SubControl.SC_SpinBoxDown):
            rect = style.subControlRect(QStyle.ComplexControl.CC_SpinBox, opt, control, spin)
            assert rect.width() >= 8 and rect.height() >= 6, rect
            img = spin.grab(rect).toImage().convertToFormat(QImage.Format.Format_Grayscale8)
            ptr = img.constBits()
            assert ptr is not None
            ptr.setsize(img.sizeInBytes())
            grey = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())
            # an arrow drawn in the text colour stands out of the button's background
            assert int(grey.max()) - int(grey.min()) > 60, f"{control}: no visible arrow"


def test_watched_folders_are_listed_added_and_saved(
    qtbot: QtBot, real_window: MainWindow, real_runtime: AgentRuntime, tmp_path: Path
) -> None:
    first, second = tmp_path / "night-1", tmp_path / "night-2"
    first.mkdir()
    second.mkdir()
    original = real_runtime.settings()
    settings = dataclasses.replace(original, watch_folders=[str(first)])
    _run(qtbot, real_runtime.save_settings(settings))
    try:
        panel = real_window.settings
        panel.load()
        assert panel.watched_folders() == [str(first)]

        panel.add_watched_folder(str(second))
        panel.save()
        qtbot.waitUntil(lambda: panel.status.text() == "Saved.", timeout=10000)
        assert real_runtime.settings().watch_folders == [str(first), str(second)]
    finally:  # the store is shared by the session's tests
        _run(qtbot, real_runtime.save_settings(original))


def test_the_keyring_is_named_in_words(real_window: MainWindow, keyring_file: Path) -> None:
    panel = real_window.settings
    panel.refresh_secrets()
    words = panel.keyring_status.text()
    assert "plain-text file" in words and "keyrings.alt" not in words
    assert "PlaintextKeyring" in panel.keyring_status.toolTip()
