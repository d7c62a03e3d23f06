"""The desktop agent: QApplication + qasync loop, tray (or a window when there is no tray),
notifications, and a clean quit. The single-instance socket, the crash log and the signal
wake-up are modules of their own (single_instance.py, crash_log.py, signal_wakeup.py).

Start-up order matters for speed: the tray icon is shown first, and only then (on the next
loop turn) is the controller built, which is what imports torch, FAISS and the catalogs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QFileDialog, QSystemTrayIcon

from astrolens.app.crash_log import (
    configure_file_logging,
    install_crash_handler,
    loop_exception_handler,
)
from astrolens.app.loop_watchdog import LoopWatchdog
from astrolens.app.signal_wakeup import SignalWakeup
from astrolens.app.single_instance import InstanceServer, ask_running_instance, instance_name
from astrolens.domain.labels import LabelValue
from astrolens.domain.ports import Notifier
from astrolens.settings.paths import app_paths
from astrolens.ui.tasks import spawn

if TYPE_CHECKING:
    from astrolens.app.api.routes import ApiController
    from astrolens.app.api.server import ApiServer
    from astrolens.domain.settings import Settings
    from astrolens.ui.bridge import AgentBridge
    from astrolens.ui.main_window import MainWindow

log = logging.getLogger(__name__)

# The tray's controller also serves the local API: the window's controller and its learning.
ControllerFactory = Callable[[Notifier], "ApiController"]
EXIT_OK = 0
EXIT_FAILURE = 1
SHUTDOWN_GRACE_S = 15.0
NO_TRAY_MESSAGE = (
    "Your desktop has no system tray, so AstroLens runs in this window. Closing the window "
    "stops discovery; minimise it to keep AstroLens running."
)


# ---------------------------------------------------------------------- the agent


def _factory_from_env() -> ControllerFactory | None:
    """ASTROLENS_CONTROLLER_FACTORY=module:function: run the agent on another controller
    (the UI tests and the start-up benchmark use a fake one over demo images)."""
    spec = os.environ.get("ASTROLENS_CONTROLLER_FACTORY")
    if not spec:
        return None
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def default_controller_factory(notifier: Notifier) -> ApiController:
    """The real agent. Imported here, after the tray shows: this is what loads torch."""
    from astrolens.app.agent import create_agent_controller
    from astrolens.app.context import AppOptions, AstroLensApp

    app = AstroLensApp(options=AppOptions(notify=True))
    app.notifier = notifier  # the desktop notifier, wired to the window (not the default)
    return create_agent_controller(app)


class DesktopAgent:
    def __init__(
        self,
        qapp: QApplication,
        factory: ControllerFactory,
        *,
        server_name: str | None = None,
        ready_file: Path | None = None,
        notifications: bool = True,
        api: bool = False,
        api_port: int | None = None,
    ) -> None:
        from astrolens.ui.tray import TrayAgent

        self.qapp = qapp
        self.factory = factory
        self.ready_file = ready_file
        self.started_at = time.monotonic()
        self.controller: ApiController | None = None
        self.bridge: AgentBridge | None = None
        self.window: MainWindow | None = None
        self.tray_available = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray = TrayAgent()
        self.notifier = self._make_notifier(notifications)
        self.quit_event = asyncio.Event()
        self.api_wanted = api
        self.api_port = api_port
        self.api_server: ApiServer | None = None  # the local REST API, on this qasync loop
        self.server = InstanceServer(server_name, self.handle_command) if server_name else None
        self.tray.open_window.connect(self.show_window)
        self.tray.open_candidate.connect(self.open_candidate)
        self.tray.open_settings.connect(lambda: self.show_window("Settings"))
        self.tray.scan_folder.connect(self.choose_scan_folder)
        self.tray.quit_requested.connect(self.request_quit)

    def _make_notifier(self, enabled: bool) -> Notifier:
        from astrolens.notify import create_notifier

        return create_notifier(
            enabled=enabled, on_review=self.open_candidate, on_dismiss=self.dismiss_candidate
        )

    # -- start-up
    def start(self) -> None:
        if self.tray_available:
            self.tray.show()
            log.info(
                "tray icon visible=%s after %.3f s",
                self.tray.icon.isVisible(),
                time.monotonic() - self.started_at,
            )
        else:
            log.warning("no system tray: the window opens instead")
        self._write_ready()
        # The next loop turn: the icon is painted before the heavy imports begin.
        QTimer.singleShot(0, self._create_controller)

    def _write_ready(self) -> None:
        if self.ready_file is None:
            return
        data = {
            "tray_available": self.tray_available,
            "tray_visible": self.tray.icon.isVisible(),
            "pid": os.getpid(),
            "monotonic": time.monotonic(),
            "heavy_modules": sorted(
                m for m in ("torch", "faiss", "astroquery", "open_clip") if m in sys.modules
            ),
        }
        tmp = self.ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.ready_file)

    def _create_controller(self) -> None:
        from astrolens.ui.bridge import AgentBridge

        try:
            controller = self.factory(self.notifier)
        except Exception as exc:
            log.exception("the discovery agent could not start")
            self.tray.set_failed(f"could not start: {type(exc).__name__}: {exc}")
            if not self.tray_available:
                self.qapp.quit()
            return
        self.controller = controller
        self.bridge = AgentBridge(controller)
        self.tray.attach(controller, self.bridge)
        log.info("agent ready after %.2f s", time.monotonic() - self.started_at)
        spawn(self._check_notifications(), name="check-notifications")
        if self.api_wanted or controller.settings().api_enabled:
            spawn(self._start_api(controller), name="start-api")
        if not self.tray_available:
            self.show_window()
            if self.window is not None:  # show_window built it: the controller is set
                self.window.show_message(NO_TRAY_MESSAGE)

    async def _check_notifications(self) -> None:
        ok, why = await self.notifier.available()
        (log.info if ok else log.warning)("notifications: %s", why)

    async def _start_api(self, controller: ApiController) -> None:
        from astrolens.app.api.server import start_api

        port = self.api_port if self.api_port is not None else controller.settings().api_port
        try:
            self.api_server = await start_api(controller, app_paths().config_dir, port)
        except Exception as exc:  # a taken port must not take the tray down with it
            log.error("the local API could not start: %s", exc)
            self.tray.icon.showMessage("AstroLens API not started", str(exc))
            return
        log.info("local API on %s (token: `astrolens api-token`)", self.api_server.url)

    # -- window
    def ensure_window(self) -> MainWindow | None:
        # The bridge is made with the controller: both are set, or neither.
        if self.window is None and self.controller is not None and self.bridge is not None:
            from astrolens.ui.main_window import MainWindow

            self.window = MainWindow(
                self.controller,
                self.bridge,
                tray_available=self.tray_available,
                geometry_file=app_paths().config_dir / "window.ini",
            )
            self.window.quit_requested.connect(self.request_quit)
            # a candidate labelled in the window needs its notification no more
            self.window.verification.labelled.connect(self._acted_on)
            self.window.settings.settings_saved.connect(self._settings_saved)
        return self.window

    def show_window(self, panel: str | None = None) -> None:
        win = self.ensure_window()
        if win is None:
            return
        if panel:
            win.show_panel(panel)
        win.bring_to_front()

    def open_candidate(self, image_id: int) -> None:
        win = self.ensure_window()
        if win is not None:
            log.info("opening candidate #%d for review", image_id)
            win.open_candidate(image_id)

    def _acted_on(self, image_id: int, *_: object) -> None:
        acted_on = getattr(self.notifier, "acted_on", None)
        if acted_on is not None:
            acted_on(image_id)

    def dismiss_candidate(self, image_id: int) -> None:
        if self.controller is not None:
            log.info("candidate #%d marked not interesting from a notification", image_id)
            spawn(
                self.controller.label(image_id, LabelValue.FALSE_POSITIVE, origin="notification"),
                name="dismiss-label",
            )

    def choose_scan_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(None, "Scan a folder with AstroLens")
        if path and self.controller is not None:
            self.controller.scan_folder(Path(path))

    def _settings_saved(self, settings: Settings) -> None:
        from astrolens.app.autostart import autostart_enabled, set_autostart

        try:
            if bool(settings.autostart) != autostart_enabled():
                set_autostart(bool(settings.autostart))
        except OSError as exc:
            log.warning("could not change autostart: %s", exc)

    # -- commands from later launches
    def handle_command(self, command: str) -> str:
        if command == "show":
            self.show_window()
            return "ok"
        if command == "state":
            return json.dumps(self.describe())
        if command in ("pause", "resume") and self.controller is not None:
            getattr(self.controller, command)()
            return "ok"
        if command.startswith("scan ") and self.controller is not None:
            # what "Scan a folder…" does, for scripts: `scan /path/to/folder`
            folder = Path(command[5:].strip()).expanduser()
            if not folder.is_dir():
                return f"error: not a folder: {folder}"
            self.controller.scan_folder(folder)
            return "ok"
        if command == "quit":
            self.request_quit()
            return "ok"
        return f"error: unknown command {command!r}"

    def describe(self) -> dict[str, Any]:
        win = self.window
        cand = win.verification.candidate if win is not None else None
        return {
            "tray_available": self.tray_available,
            "tray_visible": self.tray.icon.isVisible(),
            "tray_state": getattr(self.tray, "tray_state", None),
            "tooltip": self.tray.icon.toolTip(),
            "menu_status": self.tray.status_action.text(),
            "queue_position": win.verification.where.text() if win is not None else None,
            "controller_state": self.controller.state.value if self.controller else None,
            "api_url": self.api_server.url if self.api_server is not None else None,
            "window_visible": bool(win is not None and win.isVisible()),
            "panel": win.current_panel if win is not None else None,
            "candidate": cand.id if cand is not None else None,
            "threads": sorted(t.name for t in threading.enumerate()),
            # What start-up must not have paid for (the benchmark checks these).
            "heavy_modules": sorted(
                m for m in ("torch", "faiss", "astroquery", "open_clip") if m in sys.modules
            ),
        }

    # -- quit
    def request_quit(self) -> None:
        self.quit_event.set()

    async def run(self) -> None:
        self.start()
        await self.quit_event.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop the pipeline, then the UI's own work, each with a deadline; no thread is
        left behind (the tests check threading.enumerate())."""
        from astrolens.ui import tasks

        log.info("quitting")
        self.tray.icon.hide()
        if self.server is not None:
            self.server.close()
        if self.window is not None:
            self.window.hide()
        if self.bridge is not None:
            self.bridge.close()
        if self.api_server is not None:
            await self.api_server.stop()
        aclose = getattr(self.notifier, "aclose", None)
        if aclose is not None:
            await aclose()
        if self.controller is not None:
            try:
                await asyncio.wait_for(self.controller.shutdown(), SHUTDOWN_GRACE_S)
            except TimeoutError:
                log.error("the pipeline did not stop within %.0f s", SHUTDOWN_GRACE_S)
        await tasks.cancel_all(grace_s=3.0)


def run_desktop(
    args: argparse.Namespace | None = None, controller_factory: ControllerFactory | None = None
) -> int:
    import qasync

    from astrolens.ui.theme import apply_dark_theme

    paths = app_paths().ensure()
    configure_file_logging(paths.log_dir, getattr(args, "verbose", 0) or 0)
    install_crash_handler(paths.log_dir)
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(qapp, QApplication)
    qapp.setApplicationName("AstroLens")
    qapp.setQuitOnLastWindowClosed(False)  # the tray keeps running with no window

    name = instance_name(paths.data_dir)
    if ask_running_instance(name, "show") is not None:
        print("AstroLens is already running: its window was brought to the front.")
        return EXIT_OK

    from astrolens.ui.icons import app_icon

    apply_dark_theme(qapp)
    qapp.setWindowIcon(app_icon())
    factory = controller_factory or _factory_from_env() or default_controller_factory
    ready = os.environ.get("ASTROLENS_READY_FILE")
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(loop_exception_handler)
    agent = DesktopAgent(
        qapp,
        factory,
        server_name=name,
        ready_file=Path(ready) if ready else None,
        api=bool(getattr(args, "api", False)),
        api_port=getattr(args, "port", None),
    )
    wakeup = SignalWakeup(agent.request_quit)
    watchdog = LoopWatchdog(loop)
    watchdog.start()
    try:
        with loop:
            loop.run_until_complete(agent.run())
    finally:
        watchdog.stop()
        wakeup.close()
        asyncio.set_event_loop(None)
    leftover = [
        t.name
        for t in threading.enumerate()
        if t is not threading.main_thread() and t.is_alive() and not t.daemon
    ]
    if leftover:
        log.error("threads still running at exit: %s", leftover)
        return EXIT_FAILURE
    log.info("AstroLens stopped cleanly")
    return EXIT_OK
