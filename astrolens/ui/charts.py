"""Small charts drawn with QPainter (no plotting library: the tray must start fast)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from astrolens.ui import theme


class _Chart(QWidget):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def _frame(self, p: QPainter) -> QRectF:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.PANEL))
        p.setPen(QColor(theme.MUTED))
        f = QFont(self.font())
        f.setPointSizeF(9)
        p.setFont(f)
        p.drawText(QRectF(10, 4, self.width() - 20, 18), Qt.AlignmentFlag.AlignLeft, self.title)
        return QRectF(38, 26, max(10, self.width() - 52), max(10, self.height() - 50))


class RatePlot(_Chart):
    """Images per hour over the last 24 h, oldest on the left."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Images per hour (last 24 h)", parent)
        self.counts: tuple[int, ...] = ()

    def set_counts(self, counts: Sequence[int]) -> None:
        self.counts = tuple(counts)
        self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        area = self._frame(p)
        if not self.counts:
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "no images yet")
            return
        top = max(max(self.counts), 1)
        n = len(self.counts)
        bw = area.width() / n
        p.setPen(QColor(theme.BORDER))
        p.drawLine(area.bottomLeft(), area.bottomRight())
        p.setPen(QColor(theme.MUTED))
        p.drawText(QRectF(0, area.top() - 6, 34, 14), Qt.AlignmentFlag.AlignRight, str(top))
        p.drawText(QRectF(0, area.bottom() - 8, 34, 14), Qt.AlignmentFlag.AlignRight, "0")
        p.drawText(
            QRectF(area.left(), area.bottom() + 4, area.width(), 14),
            Qt.AlignmentFlag.AlignLeft,
            "−24 h",
        )
        p.drawText(
            QRectF(area.left(), area.bottom() + 4, area.width(), 14),
            Qt.AlignmentFlag.AlignRight,
            "now",
        )
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(theme.ACCENT))
        for i, c in enumerate(self.counts):
            h = area.height() * c / top
            p.drawRoundedRect(QRectF(area.left() + i * bw + 1, area.bottom() - h, bw - 2, h), 2, 2)


_P_FLOOR = 1e-12


class ScoreHistogram(_Chart):
    """Histogram of recent images with the anomaly and near-miss thresholds drawn on it.

    The thresholds are p-values, so with p-values the x axis is −log10 p (right = more
    anomalous) and the lines sit exactly where the verdicts change. Without p-values it
    shows the raw ensemble scores and says that no thresholds can be drawn.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Recent scores", parent)
        self.values = np.zeros(0)
        self.lines: list[tuple[float, str, str]] = []
        self.axis = ""

    def set_p_values(self, p_values: Sequence[float], anomaly_p: float, near_miss_p: float) -> None:
        p = np.clip(np.asarray(p_values, dtype=float), _P_FLOOR, 1.0)
        self.values = -np.log10(p)
        self.axis = "−log10 p  (right: more anomalous)"
        self.lines = []
        # A threshold of p = 0 (nothing can pass, e.g. a tiny calibration set) has no place on
        # a log axis: it is named in the axis label instead of drawn at infinity.
        closed = []
        for threshold, colour, name in (
            (near_miss_p, theme.NEAR_MISS, "near-miss"),
            (anomaly_p, theme.ANOMALY, "anomaly"),
        ):
            if threshold > 0 and np.isfinite(threshold):
                x = float(-np.log10(min(threshold, 1.0)))
                self.lines.append((x, colour, f"{name} p≤{threshold:g}"))
            else:
                closed.append(name)
        if closed:
            self.axis += f"; {' and '.join(closed)} threshold p = 0: none possible yet"
        self.update()

    def set_scores(self, scores: Sequence[float]) -> None:
        self.values = np.asarray(scores, dtype=float)
        self.axis = "ensemble score (no calibration yet: no thresholds)"
        self.lines = []
        self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        try:  # an exception with the painter open would stop the panel painting for good
            self._paint(p)
        finally:
            p.end()

    def _paint(self, p: QPainter) -> None:
        area = self._frame(p)
        vals = self.values[np.isfinite(self.values)]
        if vals.size == 0:
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "no scores yet")
            return
        lines = [x for x, _, _ in self.lines if np.isfinite(x)]
        hi = max([float(vals.max()), *lines]) * 1.05
        lo = min(0.0, float(vals.min()))
        if not hi > lo:  # all values equal (e.g. every p = 1): give the axis some width
            hi = lo + 1.0
        counts, edges = np.histogram(vals, bins=40, range=(lo, hi))
        # sqrt scale: the rare, interesting tail stays visible next to the bulk.
        top = float(np.sqrt(max(int(counts.max()), 1)))
        span = hi - lo
        bw = area.width() / len(counts)
        p.setPen(Qt.PenStyle.NoPen)
        for i, c in enumerate(counts):
            h = area.height() * np.sqrt(c) / top
            x_mid = (edges[i] + edges[i + 1]) / 2
            colour = theme.ACCENT
            for x, col, _ in self.lines:
                if x_mid >= x:
                    colour = col
            p.setBrush(QColor(colour))
            p.drawRect(QRectF(area.left() + i * bw + 0.5, area.bottom() - h, bw - 1, h))
        p.setPen(QColor(theme.BORDER))
        p.drawLine(area.bottomLeft(), area.bottomRight())
        for k, (x, col, text) in enumerate(self.lines):
            px = area.left() + area.width() * (x - lo) / span
            pen = QPen(QColor(col), 1.5, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.drawLine(QPointF(px, area.top()), QPointF(px, area.bottom()))
            p.drawText(
                QRectF(px - 150, area.top() + 2 + 14 * k, 146, 14),
                Qt.AlignmentFlag.AlignRight,
                text,
            )
        p.setPen(QColor(theme.MUTED))
        p.drawText(
            QRectF(area.left(), area.bottom() + 4, area.width(), 14),
            Qt.AlignmentFlag.AlignCenter,
            self.axis,
        )
        p.drawText(
            QRectF(area.left(), area.bottom() + 4, area.width(), 14),
            Qt.AlignmentFlag.AlignLeft,
            f"{lo:.0f}",
        )
        p.drawText(
            QRectF(area.left(), area.bottom() + 4, area.width(), 14),
            Qt.AlignmentFlag.AlignRight,
            f"{hi:.1f}",
        )
