"""Tray and window icons: the committed SVGs, plus a badge drawn with the unread count."""

from __future__ import annotations

import enum
from functools import cache
from pathlib import Path

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

from astrolens.domain.resources import icons_dir

# Through the shared resolver, so the same code finds the icons inside the desktop bundle.
ICONS_DIR = icons_dir()


class TrayState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    OFFLINE = "offline"
    ERROR = "error"


def icon_path(name: str) -> Path:
    return ICONS_DIR / f"{name}.svg"


@cache
def app_icon() -> QIcon:
    return QIcon(str(icon_path("astrolens")))


@cache
def _base_pixmap(state: TrayState, size: int) -> QPixmap:
    return QIcon(str(icon_path(f"tray-{state.value}"))).pixmap(size, size)


def tray_icon(state: TrayState, badge: int = 0) -> QIcon:
    """The state's icon; with badge > 0 a red disc with the count in the top-right corner."""
    icon = QIcon()
    for size in (16, 22, 32, 64):
        pm = QPixmap(_base_pixmap(state, size))
        if badge > 0:
            _draw_badge(pm, badge)
        icon.addPixmap(pm)
    return icon


def _draw_badge(pm: QPixmap, count: int) -> None:
    size = pm.width()
    d = size * 0.56
    rect = QRectF(size - d, 0, d, d)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#ef4444"))
    p.drawEllipse(rect)
    if size >= 22:  # at 16 px a number is unreadable; the red dot alone says "new"
        font = QFont()
        font.setBold(True)
        font.setPixelSize(max(7, int(d * 0.62)))
        p.setFont(font)
        p.setPen(QColor("white"))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "9+" if count > 9 else str(count))
    p.end()
