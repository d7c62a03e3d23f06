"""'Send to' and 'Export…': a candidate or a list of them, out to TOPCAT, Aladin, DS9, the sky
viewers and files; and what those tools point at, back into the window.

The panels add one button each; everything else lives here. Every action awaits the agent's
`ToolboxController`, which runs the blocking work on executors, so the loop never waits on a
SAMP hub, a file or a download.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QFileDialog, QMenu, QPushButton, QWidget

from astrolens.domain.candidates import Candidate
from astrolens.domain.errors import AstroLensError
from astrolens.domain.toolbox import (
    ExportFormat,
    RowHighlighted,
    SampEvent,
    SkyPointed,
    ToolboxController,
    format_for_path,
    nearest_candidate,
)
from astrolens.ui.links import SKY_VIEWERS
from astrolens.ui.tasks import spawn

log = logging.getLogger(__name__)

EXPORT_FILTERS = (
    ("VOTable for TOPCAT and Aladin (*.vot)", ExportFormat.VOTABLE),
    ("FITS table (*.fits)", ExportFormat.FITS),
    ("ECSV for astropy (*.ecsv)", ExportFormat.ECSV),
    ("CSV (*.csv)", ExportFormat.CSV),
    ("Parquet (*.parquet)", ExportFormat.PARQUET),
    ("DS9 regions (*.reg)", ExportFormat.DS9),
    ("CASA regions (*.crtf)", ExportFormat.CRTF),
)


def toolbox_of(controller: object) -> ToolboxController | None:
    """The agent's toolbox, if it has one (test doubles and older agents may not)."""
    return getattr(controller, "toolbox", None)


class SendToMenu(QMenu):
    """SAMP messages, sky viewers and fresh cutouts for the current candidate.

    `current` gives the candidate on screen; `listed` (optional) the candidates of the list the
    panel shows, for 'this list as a table'.
    """

    message = pyqtSignal(str)  # what happened, for the panel's status line
    link_requested = pyqtSignal(str)  # a URL for the window to open

    def __init__(
        self,
        toolbox: ToolboxController | None,
        current: Callable[[], Candidate | None],
        listed: Callable[[], Awaitable[list[Candidate]]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Send to", parent)
        self.toolbox = toolbox
        self.current = current
        self.listed = listed
        self._heading("TOPCAT · Aladin · DS9 (SAMP)")
        self.send_list = self.addAction("This list as a table", self._send_list)
        self.send_one = self.addAction("This candidate as a table", self._send_one)
        self.point = self.addAction("Point at its position", self._point)
        self.image = self.addAction("Its image (FITS with WCS)", self._image)
        self.connect_hub = self.addAction("Connect, and follow what they select", self._connect)
        self.start_hub = self.addAction("Start a SAMP hub here", self._start_hub)
        self._heading("Open at this position")
        self.viewers = {
            name: self.addAction(name, lambda b=build: self._open_viewer(b))
            for name, build in SKY_VIEWERS
        }
        self._heading("Fresh cutout to compare bands")
        self.cutouts = {
            "legacy-survey": self.addAction(
                "Legacy Survey (grz)", lambda: self._cutout("legacy-survey")
            ),
            "sdss": self.addAction("SDSS (gri)", lambda: self._cutout("sdss")),
        }
        self.send_list.setVisible(listed is not None)
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def _heading(self, title: str) -> None:
        # addSection() draws only a line in most styles: a disabled entry shows the words.
        if not self.isEmpty():
            self.addSeparator()
        self.addAction(title).setEnabled(False)

    def refresh(self) -> None:
        cand = self.current()
        has_sky = cand is not None and cand.image.provenance.sky is not None
        has_tools = self.toolbox is not None
        self.send_list.setEnabled(has_tools)
        self.send_one.setEnabled(has_tools and cand is not None)
        self.point.setEnabled(has_tools and has_sky)
        self.image.setEnabled(has_tools and cand is not None)
        self.connect_hub.setEnabled(has_tools)
        self.start_hub.setEnabled(has_tools)
        for action in (*self.viewers.values(), *self.cutouts.values()):
            action.setEnabled(has_sky and (has_tools or action in self.viewers.values()))
        if cand is not None and not has_sky:
            self.point.setToolTip("this image has no WCS: no sky position")

    # -- actions (each a named task that reports what happened)

    def _run(self, name: str, work: Callable[[], Awaitable[str]]) -> None:
        async def go() -> None:
            try:
                text = await work()
            except AstroLensError as exc:
                text = str(exc)
            except Exception as exc:  # a tool misbehaved: say so, keep the window alive
                log.exception("send-to %s failed", name)
                text = f"{name} failed: {exc}"
            self.message.emit(text)

        spawn(go(), name=f"send-to-{name}")

    def _send_list(self) -> None:
        toolbox, listed = self.toolbox, self.listed
        if toolbox is None or listed is None:
            return

        async def work() -> str:
            return await toolbox.samp_send_table(await listed())

        self._run("table", work)

    def _send_one(self) -> None:
        cand, toolbox = self.current(), self.toolbox
        if cand is not None and toolbox is not None:
            self._run("table", lambda: toolbox.samp_send_table([cand]))

    def _point(self) -> None:
        cand, toolbox = self.current(), self.toolbox
        if cand is not None and toolbox is not None:
            self._run("position", lambda: toolbox.samp_point_at(cand.id))

    def _image(self) -> None:
        cand, toolbox = self.current(), self.toolbox
        if cand is not None and toolbox is not None:
            self._run("image", lambda: toolbox.samp_send_image(cand.id))

    def _connect(self) -> None:
        toolbox = self.toolbox
        if toolbox is not None:

            async def work() -> str:
                return (await toolbox.samp_status()).message

            self._run("connect", work)

    def _start_hub(self) -> None:
        toolbox = self.toolbox
        if toolbox is not None:

            async def work() -> str:
                return "started a SAMP hub; " + (await toolbox.samp_start_hub()).message

            self._run("hub", work)

    def _open_viewer(self, build: Callable[..., str]) -> None:
        cand = self.current()
        pos = cand.image.provenance.sky if cand else None
        if pos is not None:
            self.link_requested.emit(build(pos))

    def _cutout(self, survey: str) -> None:
        cand, toolbox = self.current(), self.toolbox
        if cand is None or toolbox is None:
            return

        async def work() -> str:
            path = await toolbox.fetch_cutout(cand.id, survey)
            self.link_requested.emit(path.as_uri())
            return f"#{cand.id}: fresh {survey} cutout saved to {path}"

        self._run("cutout", work)


def send_to_button(menu: SendToMenu) -> QPushButton:
    button = QPushButton("Send to ▾")
    button.setToolTip("TOPCAT, Aladin, DS9 (SAMP), sky viewers, fresh cutouts")
    button.setMenu(menu)
    return button


async def export_list(
    toolbox: ToolboxController,
    candidates: list[Candidate],
    path: Path,
    fmt: ExportFormat | None = None,
) -> str:
    chosen = fmt or format_for_path(path) or ExportFormat.VOTABLE
    if path.suffix.lower() != chosen.suffix and format_for_path(path) is None:
        path = path.with_name(path.name + chosen.suffix)
    try:
        report = await toolbox.export(candidates, chosen, path)
    except (AstroLensError, OSError) as exc:
        return f"export failed: {exc}"
    return report.text()


def ask_export_path(parent: QWidget | None) -> tuple[Path, ExportFormat] | None:
    """The save dialog; None when the user cancels."""
    filters = ";;".join(text for text, _ in EXPORT_FILTERS)
    name, chosen = QFileDialog.getSaveFileName(
        parent, "Export candidates", "candidates.vot", filters
    )
    if not name:
        return None
    fmt = dict(EXPORT_FILTERS).get(chosen) or format_for_path(Path(name)) or ExportFormat.VOTABLE
    return Path(name), fmt


class SampFollower(QObject):
    """What TOPCAT or Aladin point at selects the nearest candidate shown in the window."""

    selected = pyqtSignal(int)  # candidate id
    message = pyqtSignal(str)

    def __init__(
        self,
        toolbox: ToolboxController,
        shown: Callable[[], list[Candidate]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.shown = shown
        unsubscribe = toolbox.on_samp_event(self.on_event)
        self.destroyed.connect(lambda *_: unsubscribe())

    def on_event(self, event: SampEvent) -> None:
        if isinstance(event, RowHighlighted):
            self.selected.emit(event.candidate_id)
            self.message.emit(f"row of #{event.candidate_id} highlighted in another tool")
        elif isinstance(event, SkyPointed):
            found = nearest_candidate(event.position, self.shown())
            if found is None:
                self.message.emit(f"another tool pointed at {event.position}: no candidate near it")
            else:
                self.selected.emit(found.id)
                self.message.emit(f"another tool pointed at {event.position}: #{found.id}")
