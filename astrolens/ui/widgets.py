"""Small widgets that keep long text from widening the window."""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QResizeEvent
from PyQt6.QtWidgets import QLabel, QSizePolicy, QWidget

_MIN_WIDTH = 60


class ElidedLabel(QLabel):
    """One line of plain text, cut with "…" to the width it is given; the whole text is in
    the tooltip. A QLabel asks for the width of its longest line, so a single error message
    with a URL in it made the window 2750 px wide (and the size was saved)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str | None) -> None:
        self._full = text or ""
        self._elide()

    def text(self) -> str:
        return self._full

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), _MIN_WIDTH)
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width)
        super().setText(shown)
        self.setToolTip(self._full if shown != self._full else "")

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._elide()

    def minimumSizeHint(self) -> QSize:
        return QSize(_MIN_WIDTH, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        width = self.fontMetrics().horizontalAdvance(self._full) + 8
        return QSize(min(width, 480), super().sizeHint().height())


_ZWSP = "\u200b"
_LONGEST_RUN = 30


def breakable(text: str) -> str:
    """Zero-width spaces inside runs of more than 30 characters without a space (URLs, paths),
    so word wrap can break them: Qt wraps only at spaces, and one long URL set the window's
    minimum width."""
    out = []
    for word in text.split(" "):
        if len(word) > _LONGEST_RUN:
            word = _ZWSP.join(word[i : i + _LONGEST_RUN] for i in range(0, len(word), _LONGEST_RUN))
        out.append(word)
    return " ".join(out)


class WrappedLabel(QLabel):
    """Plain text that wraps, even inside long URLs and paths; `text()` gives it back as set."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setText(text)

    def setText(self, text: str | None) -> None:
        self._full = text or ""
        super().setText(breakable(self._full))

    def text(self) -> str:
        return self._full
