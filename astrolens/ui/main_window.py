"""The main window: a sidebar with the four panels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QByteArray, QRect, QSettings, QUrl, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QDesktopServices, QGuiApplication, QHideEvent
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from astrolens.domain.agent import AgentController
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.discovery import DiscoveryPanel
from astrolens.ui.gallery import GalleryPanel
from astrolens.ui.icons import app_icon
from astrolens.ui.send_to import SampFollower, toolbox_of
from astrolens.ui.settings_panel import SettingsPanel
from astrolens.ui.tasks import spawn
from astrolens.ui.training import TrainingPanel
from astrolens.ui.verification import VerificationPanel
from astrolens.ui.widgets import WrappedLabel

PANELS = ("Discovery", "Gallery", "Verification", "Settings", "Training")


def open_in_browser(url: str) -> None:
    QDesktopServices.openUrl(QUrl(url))


class MainWindow(QMainWindow):
    quit_requested = pyqtSignal()

    def __init__(
        self,
        controller: AgentController,
        bridge: AgentBridge,
        *,
        tray_available: bool = True,
        url_opener: Callable[[str], None] = open_in_browser,
        geometry_file: Path | None = None,
    ) -> None:
        super().__init__()
        if bridge.parent() is None:
            bridge.setParent(self)  # one lifetime: the bridge goes when the window does
        self.setWindowTitle("AstroLens")
        self.setWindowIcon(app_icon())
        self.resize(1280, 820)
        self.controller = controller
        self.tray_available = tray_available
        self.url_opener = url_opener

        self.discovery = DiscoveryPanel(controller, bridge)
        self.gallery = GalleryPanel(controller, bridge)
        self.verification = VerificationPanel(controller, bridge)
        self.settings = SettingsPanel(controller)
        # The agent implements LearningController too (domain/learning.py).
        self.training = TrainingPanel(controller, controller.subscribe)  # type: ignore[arg-type]
        self.stack = QStackedWidget()
        for panel in (
            self.discovery,
            self.gallery,
            self.verification,
            self.settings,
            self.training,
        ):
            self.stack.addWidget(panel)
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.addItems(PANELS)
        self.nav.setFixedWidth(170)
        self.nav.currentRowChanged.connect(self._panel_changed)
        self.banner = WrappedLabel()
        self.banner.setObjectName("banner")
        self.banner.hide()

        body = QWidget()
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.banner)
        right.addWidget(self.stack, 1)
        lay = QHBoxLayout(body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.nav)
        lay.addLayout(right, 1)
        self.setCentralWidget(body)

        self.gallery.open_verification.connect(self.open_candidate)
        self.gallery.link_requested.connect(self._open_url)
        self.verification.link_requested.connect(self._open_url)
        self.verification.labelled.connect(lambda *_: self.gallery.model.refresh())
        bridge.state_changed.connect(
            lambda ev: self.statusBar().showMessage(f"Discovery {ev.state.value} {ev.message}")
        )
        self.nav.setCurrentRow(0)
        self._verification_loaded = False
        self.geometry_file = geometry_file
        self._restore_geometry()
        toolbox = toolbox_of(controller)
        if toolbox is not None:  # TOPCAT/Aladin pointing selects a candidate here
            self.samp_follower = SampFollower(toolbox, self.gallery.shown_candidates, self)
            self.samp_follower.selected.connect(self._select_from_samp)
            self.samp_follower.message.connect(lambda t: self.statusBar().showMessage(t, 8000))

    # ------------------------------------------------------------------ geometry

    def _geometry_store(self) -> QSettings | None:
        if self.geometry_file is None:
            return None
        return QSettings(str(self.geometry_file), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        store = self._geometry_store()
        saved = store.value("geometry") if store is not None else None
        if isinstance(saved, QByteArray) and not saved.isEmpty():
            self.restoreGeometry(saved)
        self.clamp_to_screen()

    def save_geometry(self) -> None:
        store = self._geometry_store()
        if store is not None:
            store.setValue("geometry", self.saveGeometry())
            store.sync()

    def clamp_to_screen(self) -> None:
        """No larger than the screen's free area and inside it: a geometry saved on a bigger
        monitor (or by a release whose window grew to 2750 px) must not open off-screen."""
        avail = self.available_area()
        if avail is None or self.isMaximized() or self.isFullScreen():
            return
        frame_extra_w = self.frameGeometry().width() - self.width()
        frame_extra_h = self.frameGeometry().height() - self.height()
        width = min(self.width(), avail.width() - frame_extra_w)
        height = min(self.height(), avail.height() - frame_extra_h)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        frame = self.frameGeometry()
        x = min(max(frame.left(), avail.left()), avail.right() - frame.width() + 1)
        y = min(max(frame.top(), avail.top()), avail.bottom() - frame.height() + 1)
        if (x, y) != (frame.left(), frame.top()):
            self.move(x, y)

    def available_area(self) -> QRect | None:
        """The screen's area free of panels and docks, where the window must fit."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else None

    def hideEvent(self, event: QHideEvent | None) -> None:
        # closing to the tray and quitting both hide the window: remember where it was
        self.save_geometry()
        super().hideEvent(event)

    def _select_from_samp(self, image_id: int) -> None:
        if self.current_panel == "Verification":
            self.verification.open_candidate(image_id)
        else:
            self.gallery.show_candidate_id(image_id)

    def show_message(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def show_panel(self, name: str) -> None:
        self.nav.setCurrentRow(PANELS.index(name))

    @property
    def current_panel(self) -> str:
        return PANELS[self.stack.currentIndex()]

    def _panel_changed(self, row: int) -> None:
        self.stack.setCurrentIndex(row)
        panel = PANELS[row]
        if panel == "Discovery":
            self.discovery.refresh()
        elif panel == "Training":
            self.training.refresh()
        elif panel == "Verification" and not self._verification_loaded:
            self._verification_loaded = True
            spawn(self.verification.load_queue(), name="verification-queue")

    def bring_to_front(self) -> None:
        self.show()
        self.clamp_to_screen()  # after show: the window system may have placed it anew
        self.setWindowState(self.windowState() & ~self.windowState().WindowMinimized)
        self.raise_()
        self.activateWindow()

    def open_candidate(self, image_id: int) -> None:
        """Show one candidate for review: what a notification click and the tray menu do."""
        self._verification_loaded = True  # the explicit candidate first, then its queue
        self.show_panel("Verification")
        self.verification.open_candidate(image_id)  # loads the queue, starting there
        self.bring_to_front()

    def _open_url(self, url: str) -> None:
        self.url_opener(url)

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if self.tray_available:
            self.hide()  # the agent keeps running in the tray
            if event is not None:
                event.ignore()
        else:
            self.quit_requested.emit()
            if event is not None:
                event.accept()
