"""Display pixels (a domain `DisplayImage`) to Qt, and the placeholder shown instead of a
picture that cannot be shown: never the previous candidate's picture under a new title."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap

from astrolens.domain.display import DisplayImage
from astrolens.ui import theme

PLACEHOLDER_BG = "#111827"


def to_qimage(shown: DisplayImage) -> QImage:
    """A QImage that owns its bytes (QImage, unlike QPixmap, is safe off the GUI thread)."""
    pixels = np.ascontiguousarray(shown.pixels)
    h, w = pixels.shape[:2]
    fmt = QImage.Format.Format_RGB888 if pixels.ndim == 3 else QImage.Format.Format_Grayscale8
    return QImage(pixels.data, w, h, pixels.strides[0], fmt).copy()


def to_pixmap(shown: DisplayImage) -> QPixmap:
    return QPixmap.fromImage(to_qimage(shown))


def placeholder_pixmap(text: str, width: int = 480, height: int = 320) -> QPixmap:
    """A dark card with a crossed frame and `text`, word-wrapped: says plainly there is no
    picture, so nobody mistakes an empty or stale view for the image."""
    pm = QPixmap(width, height)
    pm.fill(QColor(PLACEHOLDER_BG))
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor(theme.BORDER), 2)
    p.setPen(pen)
    side = min(width, height) // 4
    frame = QRectF((width - side) / 2, height * 0.18, side, side)
    p.drawRect(frame)
    p.drawLine(frame.topLeft(), frame.bottomRight())
    p.setPen(QColor(theme.MUTED))
    font = QFont(p.font())
    font.setPointSizeF(max(7.0, min(11.0, width / 40)))
    p.setFont(font)
    text_rect = QRectF(12, frame.bottom() + 12, width - 24, height - frame.bottom() - 20)
    p.drawText(text_rect, int(Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap), text)
    p.end()
    return pm
