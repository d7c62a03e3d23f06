"""A zoomable image viewer with astronomical stretch controls.

It asks the controller for display pixels (`AgentController.display_image`), so it shows every
kind the store keeps and never opens a file itself."""

from __future__ import annotations

import logging

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

from astrolens.domain.agent import AgentController
from astrolens.domain.display import DisplayImage, DisplayLimits, DisplayStretch
from astrolens.ui.display import placeholder_pixmap, to_pixmap
from astrolens.ui.tasks import spawn
from astrolens.ui.widgets import ElidedLabel

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
        self.zoom_changed.connect(self._sampling)

    def _sampling(self, zoom: float) -> None:
        """Square pixels when magnified (what the data holds); averaged when shrunk, or a
        4k frame shown in 600 px drops most of its pixels and sparkles with aliasing."""
        smooth = zoom < 1.0
        self.item.setTransformationMode(
            Qt.TransformationMode.SmoothTransformation
            if smooth
            else Qt.TransformationMode.FastTransformation
        )
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)

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
    """The stored image at full resolution, with linear/log/asinh and min-max/99.5 %/zscale.

    Switching images first puts up a "loading" card, so a slow or failing image can never
    leave the previous candidate's picture on screen; a failure leaves a card with the reason.
    """

    image_shown = pyqtSignal(str)

    def __init__(self, controller: AgentController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.view = ZoomView(self)
        self.stretch = QComboBox()
        self.stretch.addItems([s.value for s in DisplayStretch])
        self.stretch.setToolTip("How brightness maps to grey: asinh and log lift faint light")
        self.limits = QComboBox()
        self.limits.addItems([lim.value for lim in DisplayLimits])
        self.limits.setToolTip(
            "Which values become black and white: zscale suits raw sky frames,"
            " min-max shows every value"
        )
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
        self.status = ElidedLabel()  # a long file name or error must not widen the window
        self.status.setObjectName("muted")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.status)
        self.image_id: int | None = None
        self.shown: DisplayImage | None = None  # None while loading or when it cannot show
        self.problem = ""  # why the placeholder is up ("" while an image shows)
        self._generation = 0

    def show_candidate(self, image_id: int | None) -> None:
        self._generation += 1
        self.image_id = image_id
        if image_id is None:
            self._placeholder("No stored image for this candidate.")
            return
        self.shown = None
        self.problem = ""
        self.view.set_pixmap(placeholder_pixmap("Loading…"))
        self.status.setText("loading…")
        spawn(self._load(self._generation, image_id), name="viewer-load")

    def _placeholder(self, text: str) -> None:
        self.shown = None
        self.problem = text
        self.view.set_pixmap(placeholder_pixmap(text))
        self.status.setText(text)

    def _chosen(self) -> None:
        self._user_chose = True
        if self.image_id is not None:
            self._generation += 1
            spawn(self._load(self._generation, self.image_id), name="viewer-stretch")

    async def _load(self, generation: int, image_id: int) -> None:
        stretch = limits = None
        if self._user_chose:  # the user's own choice is kept for the following images
            stretch = DisplayStretch(self.stretch.currentText())
            limits = DisplayLimits(self.limits.currentText())
        try:
            shown = await self.controller.display_image(image_id, stretch, limits)
        except Exception as exc:  # whatever the reason, say it instead of a stale picture
            log.info("cannot show image %s: %s", image_id, exc)
            if generation == self._generation:
                self._placeholder(f"Cannot show this image: {exc}")
            return
        if generation != self._generation:
            return
        if shown is None:
            self._placeholder("No stored image for this candidate.")
            return
        self.shown = shown
        self.problem = ""
        for combo, value in ((self.stretch, shown.stretch), (self.limits, shown.limits)):
            combo.blockSignals(True)  # reflect the kind's default without counting as a choice
            combo.setCurrentText(value.value)
            combo.blockSignals(False)
        self.view.set_pixmap(to_pixmap(shown))
        self.status.setText(shown.describe())  # the stored file's name: in the details
        self.image_shown.emit(shown.name)
