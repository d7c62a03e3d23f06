"""A zoomable image viewer with astronomical stretch controls."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QPainter, QPixmap, QWheelEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from astrolens.ui import imageio
from astrolens.ui.stretch import Limits, Stretch, StretchParams
from astrolens.ui.tasks import spawn

log = logging.getLogger(__name__)


class ZoomView(QGraphicsView):
    """Wheel zooms about the cursor; drag pans; 'fit' shows the whole image."""

    zoom_changed = pyqtSignal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.FastTransformation)  # see pixels
        self.scene().addItem(self.item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self._fit = True

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_pixmap(self, pm: QPixmap) -> None:
        self.item.setPixmap(pm)
        self.scene().setSceneRect(self.item.boundingRect())
        if self._fit:
            self.fit()

    def fit(self) -> None:
        self._fit = True
        if not self.item.pixmap().isNull():
            self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom)

    def zoom_by(self, factor: float) -> None:
        new = self.zoom * factor
        if not 0.05 <= new <= 64:
            return
        self._fit = False
        self.scale(factor, factor)
        self.zoom_changed.emit(self.zoom)

    def wheelEvent(self, event: QWheelEvent | None) -> None:
        if event is None:
            return
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.25**steps)

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        if self._fit:
            self.fit()


class ImageViewer(QWidget):
    """The stored image at full resolution, with linear/log/asinh and min-max/99.5 %/zscale."""

    image_shown = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ZoomView(self)
        self.stretch = QComboBox()
        self.stretch.addItems([s.value for s in Stretch])
        self.stretch.setCurrentText(Stretch.ASINH.value)
        self.limits = QComboBox()
        self.limits.addItems([lim.value for lim in Limits])
        self.limits.setCurrentText(Limits.ZSCALE.value)
        self.zoom_label = QLabel("fit")
        self.zoom_label.setObjectName("muted")
        fit = QPushButton("Fit")
        one = QPushButton("1:1")
        zin = QPushButton("+")
        zout = QPushButton("−")
        fit.clicked.connect(self.view.fit)
        one.clicked.connect(lambda: self.view.zoom_by(1.0 / max(self.view.zoom, 1e-6)))
        zin.clicked.connect(lambda: self.view.zoom_by(1.25))
        zout.clicked.connect(lambda: self.view.zoom_by(0.8))
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.stretch.currentTextChanged.connect(lambda _: self._chosen())
        self.limits.currentTextChanged.connect(lambda _: self._chosen())
        self._user_chose = False

        bar = QHBoxLayout()
        for w in (QLabel("Stretch"), self.stretch, QLabel("Limits"), self.limits):
            bar.addWidget(w)
        bar.addStretch(1)
        for w in (zout, zin, one, fit, self.zoom_label):
            bar.addWidget(w)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.status)
        self._pixels: npt.NDArray[np.float32] | None = None
        self._path: Path | None = None
        self._generation = 0

    def params(self) -> StretchParams:
        return StretchParams(Stretch(self.stretch.currentText()), Limits(self.limits.currentText()))

    def show_image(self, path: Path | None) -> None:
        self._generation += 1
        self._path = path
        self._pixels = None
        if path is None:
            self.view.set_pixmap(QPixmap())
            self.status.setText("no stored image")
            return
        self.status.setText(f"loading {path.name}…")
        self._default_stretch(path)
        spawn(self._load(self._generation, path), name="viewer-load")

    def _default_stretch(self, path: Path) -> None:
        """Raw data (FITS) needs zscale + asinh to show anything; an 8-bit picture was
        already stretched by whoever made it, so it starts as it is. The user's own choice
        (once made) is kept for the following images."""
        if self._user_chose:
            return
        fits = imageio.is_fits(path)
        for combo, value in (
            (self.stretch, Stretch.ASINH if fits else Stretch.LINEAR),
            (self.limits, Limits.ZSCALE if fits else Limits.MINMAX),
        ):
            combo.blockSignals(True)
            combo.setCurrentText(value.value)
            combo.blockSignals(False)

    def _chosen(self) -> None:
        self._user_chose = True
        self._restretch()

    async def _load(self, generation: int, path: Path) -> None:
        try:
            pixels = await imageio.run_blocking(imageio.read_pixels, path)
        except (OSError, ValueError) as exc:
            if generation == self._generation:
                self.status.setText(f"cannot read {path.name}: {exc}")
            return
        if generation != self._generation:
            return
        self._pixels = pixels
        await self._render(generation)

    def _restretch(self) -> None:
        if self._pixels is not None:
            spawn(self._render(self._generation), name="viewer-stretch")

    async def _render(self, generation: int) -> None:
        pixels = self._pixels
        if pixels is None:
            return
        params = self.params()
        img = await imageio.run_blocking(imageio.stretched_image, pixels, params)
        if generation != self._generation:
            return
        self.view.set_pixmap(QPixmap.fromImage(img))
        h, w = pixels.shape[:2]
        kind = "colour" if pixels.ndim == 3 else "grey"
        name = self._path.name if self._path else ""
        self.status.setText(f"{name} · {w}×{h} {kind} · {params.stretch}, {params.limits}")
        self.image_shown.emit(name)
