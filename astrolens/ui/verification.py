"""The verification panel: one candidate, what every catalog said about it, and the label.

Keyboard driven so a user can go through a queue fast: T / F / U label (and move on),
N or → next, P or ← previous, Enter in the note saves the note with the current label.
"""

from __future__ import annotations

import html

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from astrolens.domain.agent import AgentController, CandidateQuery
from astrolens.domain.annotation import Annotation, AnnotationError
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict, MatchStatus
from astrolens.domain.labels import LabelValue
from astrolens.domain.scoring import Verdict, not_yet_significant
from astrolens.ui import theme
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.links import ned_url, simbad_url
from astrolens.ui.send_to import SendToMenu, send_to_button, toolbox_of
from astrolens.ui.tasks import spawn
from astrolens.ui.text import CATALOG_TEXT, LABEL_TEXT, MATCH_TEXT, VERDICT_TEXT
from astrolens.ui.viewer import ImageViewer
from astrolens.ui.widgets import ElidedLabel, WrappedLabel, breakable

STATUS_COLOUR = {
    MatchStatus.MATCH: theme.GOOD,
    MatchStatus.NO_MATCH: theme.MUTED,
    MatchStatus.ERROR: theme.BAD,
    MatchStatus.PENDING: theme.NEAR_MISS,
}
VERDICT_COLOUR = {
    CatalogVerdict.KNOWN_OBJECT: theme.MUTED,
    CatalogVerdict.KNOWN_FIELD: theme.NEAR_MISS,
    CatalogVerdict.POSSIBLE_DISCOVERY: theme.ANOMALY,
    CatalogVerdict.PENDING: theme.NEAR_MISS,
    CatalogVerdict.INCOMPLETE: theme.BAD,
    CatalogVerdict.NO_POSITION: theme.MUTED,
}
# How the review queue is ordered. The learned rank is the default: every label re-ranks the
# queue, and the queue is read again after each label, so what comes next reflects it.
QUEUE_MODES = (
    ("Best first (learns from your labels)", "rank"),
    ("Label next (most informative)", "label_next"),
    ("Most anomalous", "score"),
    ("Newest", "newest"),
)
MOST_UNUSUAL = 5  # a queue shorter than this gets the most unusual images too
KEYS = {"T": LabelValue.TRUE_POSITIVE, "F": LabelValue.FALSE_POSITIVE, "U": LabelValue.UNSURE}


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(len(headers) - 1, QHeaderView.ResizeMode.Stretch)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows and letters stay with the panel
    t.setAlternatingRowColors(True)
    return t


class VerificationPanel(QWidget):
    link_requested = pyqtSignal(str)  # the window opens it (QDesktopServices)
    labelled = pyqtSignal(int, object)  # image id, LabelValue

    def __init__(self, controller: AgentController, bridge: AgentBridge) -> None:
        super().__init__()
        self.controller = controller
        self.queue: list[int] = []
        self.position = -1
        self.candidate: Candidate | None = None
        # Opened from a notification (or the tray): the review starts at that candidate, and
        # "Back to queue" returns to where the user was (None: not jumped).
        self._jumped_from: int | None = None
        self._jumped = False
        self.unusual_note = ""  # why the most unusual images are not called anomalies

        self.viewer = ImageViewer(controller)
        self.title = WrappedLabel("No candidate")  # long file names wrap, never widen
        self.title.setObjectName("heading")
        self.score = QLabel()
        self.score.setWordWrap(True)
        self.verdict = QLabel()
        self.verdict.setObjectName("heading")
        self.verdict.setWordWrap(True)  # the verdict and, for an image without WCS, why
        self.predictions = QLabel()  # what the promoted heads say (your labels, morphology)
        self.predictions.setWordWrap(True)
        self.predictions.setObjectName("muted")
        # What an LLM says about the image (Ollama or OpenAI, see Settings); asked on demand.
        self.annotate_button = QPushButton("Annotate with LLM")
        self.annotate_button.setToolTip(
            "Ask the configured vision model to describe the image, say whether it looks like "
            "an artefact, and what to check next"
        )
        self.annotate_button.clicked.connect(self.annotate)
        self.annotation = QLabel()
        self.annotation.setWordWrap(True)
        self.annotation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.services = _table(["Catalog", "State", "Radius", "Detail"])
        self.services.setMinimumHeight(180)
        self.services.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.services.setMaximumHeight(200)
        self.retry = QPushButton("Retry catalogs")
        self.retry.clicked.connect(self.retry_crossmatch)
        self.matches = _table(["Name", "Type", "Separation", "Service"])
        self.simbad = QPushButton("Open in SIMBAD")
        self.ned = QPushButton("Open in NED")
        self.simbad.clicked.connect(lambda: self._open_link("simbad"))
        self.ned.clicked.connect(lambda: self._open_link("ned"))
        self.send_to = SendToMenu(toolbox_of(controller), lambda: self.candidate, parent=self)
        self.send_to.link_requested.connect(self.link_requested.emit)

        self.buttons: dict[LabelValue, QPushButton] = {}
        labels = QHBoxLayout()
        for key, value in KEYS.items():
            b = QPushButton(f"{LABEL_TEXT[value]}  [{key}]")
            b.setObjectName({"T": "tp", "F": "fp", "U": "unsure"}[key])
            b.clicked.connect(lambda _=False, v=value: self.label(v))
            self.buttons[value] = b
            labels.addWidget(b)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note (Enter saves it with the label)")
        self.note.returnPressed.connect(self.save_note)
        self.status = ElidedLabel("T true · F false · U unsure · N/→ next · P/← previous")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)  # long notes wrap instead of widening the window
        self.where = QLabel()
        self.where.setObjectName("muted")
        self.mode = QComboBox()
        for text, key in QUEUE_MODES:
            self.mode.addItem(text, key)
        self.mode.setToolTip(
            "Label next asks about the candidates whose labels would teach the ranking most,"
            " not only the top ones"
        )
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.mode.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.back = QPushButton("Back to queue")
        self.back.setToolTip("Return to the candidate you were reviewing before this one")
        self.back.clicked.connect(self.back_to_queue)
        self.back.hide()
        prev_b = QPushButton("← Previous")
        next_b = QPushButton("Next →")
        prev_b.clicked.connect(self.previous)
        next_b.clicked.connect(self.next)
        for b in (
            self.back,
            prev_b,
            next_b,
            self.retry,
            self.simbad,
            self.ned,
            self.annotate_button,
            *self.buttons.values(),
        ):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 8, 0)
        ll.addWidget(self.title)
        ll.addWidget(self.viewer, 1)
        ll.addWidget(self.score)
        ll.addWidget(self.predictions)
        ann = QHBoxLayout()
        ann.addWidget(self.annotate_button)
        ann.addStretch(1)
        ll.addLayout(ann)
        ll.addWidget(self.annotation)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(8, 0, 0, 0)
        rl.addWidget(self.verdict)
        head = QHBoxLayout()
        head.addWidget(QLabel("Catalogs"))
        head.addStretch(1)
        head.addWidget(self.retry)
        rl.addLayout(head)
        rl.addWidget(self.services)
        rl.addWidget(QLabel("Objects found near the position"))
        rl.addWidget(self.matches, 1)
        links = QHBoxLayout()
        links.addWidget(self.simbad)
        links.addWidget(self.ned)
        send_to = send_to_button(self.send_to)
        send_to.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        links.addWidget(send_to)
        links.addStretch(1)
        rl.addLayout(links)
        rl.addLayout(labels)
        rl.addWidget(self.note)
        nav = QHBoxLayout()
        nav.addWidget(self.mode)
        nav.addWidget(self.back)
        nav.addWidget(prev_b)
        nav.addWidget(self.where)
        nav.addStretch(1)
        nav.addWidget(next_b)
        rl.addLayout(nav)
        rl.addWidget(self.status)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.addWidget(split)

        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        # QLineEdit claims printable keys and arrows while typing (ShortcutOverride), so these
        # fire only when the note field does not want the key.
        for key, value in KEYS.items():
            QShortcut(QKeySequence(key), self, lambda v=value: self.label(v), context=ctx)
        for seq, fn in (
            ("N", self.next),
            ("Right", self.next),
            ("P", self.previous),
            ("Left", self.previous),
        ):
            QShortcut(QKeySequence(seq), self, fn, context=ctx)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        bridge.catalog_checked.connect(self._catalog_changed)
        self.send_to.message.connect(self.status.setText)
        self._set_enabled(False)

    # ------------------------------------------------------------------ queue

    async def load_queue(self) -> None:
        """The unlabelled candidates in the chosen order: what a reviewing session goes
        through. Read again after every label, which has re-ranked them."""
        mode = self.mode.currentData()
        learning = getattr(self.controller, "label_next", None)
        if mode == "label_next" and learning is not None:
            found: list[Candidate] = await learning(50)
        else:
            order = "rank" if mode == "label_next" else mode
            query = CandidateQuery(labelled=False, order_by=order, limit=500)
            found = await self.controller.candidates(query)
        if len(found) < MOST_UNUSUAL:
            found += await self._most_unusual()
        current = self.candidate.id if self.candidate else None
        self.queue = [c.id for c in found]
        if current is not None and (self._jumped or current not in self.queue):
            # the review starts here: the candidate the user came for is first, not 55th
            if current in self.queue:
                self.queue.remove(current)
            self.queue.insert(0, current)
        self.position = self.queue.index(current) if current is not None else -1
        if self.candidate is None and self.queue:
            await self.show_id(self.queue[0])
        self._update_where()

    async def _most_unusual(self) -> list[Candidate]:
        """A first run has (almost) nothing significant: the most unusual images kept for
        review follow, said as such, with how large the reference must grow."""
        query = CandidateQuery(
            verdicts=(Verdict.NORMAL,), labelled=False, order_by="score", limit=MOST_UNUSUAL
        )
        found = await self.controller.candidates(query)
        if found:
            stats = await self.controller.stats()
            reference = max((c.reference_size for c in stats.calibrations), default=0)
            alpha = stats.calibrations[0].fdr if stats.calibrations else 0.05
            self.unusual_note = not_yet_significant(reference, alpha)
        return found

    def _mode_changed(self) -> None:
        spawn(self._restart_queue(), name="verify-mode")

    async def _restart_queue(self) -> None:
        await self.load_queue()
        first = next(
            (i for i in self.queue if self.candidate is None or i != self.candidate.id), None
        )
        if first is not None:
            await self.show_id(first)

    def open_candidate(self, image_id: int) -> None:
        """Start the review at this candidate (a notification's or the tray's): it comes
        first in the queue, and "Back to queue" returns to where the user was."""
        previous = self.candidate.id if self.candidate is not None else None
        if previous != image_id:
            self._jumped_from = previous
        self._jumped = True
        self.back.show()
        spawn(self._open(image_id), name="verify-open")

    async def _open(self, image_id: int) -> None:
        await self.show_id(image_id)
        await self.load_queue()

    def back_to_queue(self) -> None:
        target = self._jumped_from
        self._jumped = False
        self._jumped_from = None
        self.back.hide()
        spawn(self._back(target), name="verify-back")

    async def _back(self, target: int | None) -> None:
        self.candidate = None if target is None else self.candidate
        await self.load_queue()
        if target is not None:
            await self.show_id(target)
        elif self.queue:
            await self.show_id(self.queue[0])

    async def show_id(self, image_id: int) -> None:
        cand = await self.controller.get_candidate(image_id)
        if cand is None:
            self.status.setText(f"candidate #{image_id} is no longer in the store")
            return
        if image_id not in self.queue:
            self.queue.insert(max(self.position, 0), image_id)
        self.position = self.queue.index(image_id)
        self.show_candidate(cand)

    def next(self) -> None:
        if self.position + 1 < len(self.queue):
            spawn(self.show_id(self.queue[self.position + 1]), name="verify-next")
        else:
            self.status.setText("That was the last candidate in the queue.")

    def previous(self) -> None:
        if self.position > 0:
            spawn(self.show_id(self.queue[self.position - 1]), name="verify-prev")

    def _update_where(self) -> None:
        if self.queue and self.position >= 0:
            self.where.setText(f"{self.position + 1} of {len(self.queue)}")

    # ------------------------------------------------------------------ display

    def _set_enabled(self, on: bool) -> None:
        for w in (
            self.retry,
            self.simbad,
            self.ned,
            self.note,
            self.annotate_button,
            *self.buttons.values(),
        ):
            w.setEnabled(on)

    def show_candidate(self, cand: Candidate) -> None:
        first_show = self.candidate is None or self.candidate.id != cand.id
        self.candidate = cand
        self._set_enabled(True)
        r = cand.result
        self.title.setText(f"#{cand.id} · {cand.image.display_name}")
        label = (
            f"Labelled <b>{LABEL_TEXT[cand.label.value]}</b>"
            # the user's own words: escaped (it is rich text) and breakable (a pasted URL)
            + (f": {html.escape(breakable(cand.label.note))}" if cand.label.note else "")
            if cand.label
            else "Not labelled yet"
        )
        self.score.setText(f"{VERDICT_TEXT[r.verdict]} · {r.explain()}<br>{label}")
        # The numbers behind the words, one hover away (a bare "for you 0.52" said nothing).
        detail = [f"ensemble score {r.score:.3f}"]
        if r.thresholds is not None:
            detail.append(
                f"judged by its scan's cut: anomaly p ≤ {r.thresholds.anomaly_p:.3g},"
                f" near-miss p ≤ {r.thresholds.near_miss_p:.3g}"
            )
        if cand.rank_score is not None:
            detail.append(
                f"learned rank {cand.rank_score:.2f}: how high your labels so far place it"
                " in 'Best first'"
            )
        detail.append(f"model {cand.model_id}, calibration v{r.calibration_version}")
        self.score.setToolTip("\n".join(detail))
        colour = VERDICT_COLOUR[cand.catalog_verdict]
        why = ""
        if cand.catalog_verdict is CatalogVerdict.NO_POSITION:
            # say why the catalog tables stay empty, instead of leaving them blank
            why = (
                f"<br><span style='color:{theme.MUTED}; font-weight:normal'>The file has no sky"
                " coordinates (WCS), so the catalogs cannot be asked about it.</span>"
            )
        self.verdict.setText(
            f"<span style='color:{colour}'>{CATALOG_TEXT[cand.catalog_verdict]}</span>{why}"
        )
        self.services.setRowCount(len(cand.crossmatches))
        objects = []
        for row, xm in enumerate(cand.crossmatches):
            detail = (
                xm.reason
                if xm.status is MatchStatus.ERROR
                else (f"{len(xm.objects)} object(s)" if xm.objects else (xm.catalog or ""))
            )
            cells = [xm.service, MATCH_TEXT[xm.status], f'{xm.radius_arcsec:g}"', detail]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 1:
                    item.setForeground(QColor(STATUS_COLOUR[xm.status]))
                if xm.status is MatchStatus.ERROR:
                    item.setToolTip(xm.reason)
                self.services.setItem(row, col, item)
            objects.extend(xm.objects)
        for col in range(3):  # the detail column takes the rest (reasons can be long)
            self.services.resizeColumnToContents(col)
        objects.sort(key=lambda o: o.separation_arcsec)
        self.matches.setRowCount(len(objects))
        for row, o in enumerate(objects):
            cells = [o.name, o.object_type or "?", f'{o.separation_arcsec:.1f}"', o.service]
            for col, text in enumerate(cells):
                self.matches.setItem(row, col, QTableWidgetItem(text))
        self.matches.resizeColumnsToContents()
        has_sky = cand.image.provenance.sky is not None
        self.simbad.setEnabled(has_sky)
        self.ned.setEnabled(has_sky)
        self.retry.setEnabled(has_sky)
        if r.verdict is Verdict.NORMAL and self.unusual_note:
            self.status.setText(self.unusual_note)
        if first_show:
            self.predictions.setText("")
            spawn(self._show_predictions(cand.id), name="verify-predictions")
            self.annotation.setText("")
            spawn(self._show_annotations(cand.id), name="verify-annotations")
            self.note.setText(cand.label.note if cand.label else "")
            self.viewer.show_candidate(cand.id)
        self._update_where()

    async def _show_predictions(self, image_id: int) -> None:
        ask = getattr(self.controller, "predictions", None)
        if ask is None:
            return
        found = await ask(image_id)
        if self.candidate is not None and self.candidate.id == image_id:
            self.predictions.setText("<br>".join(p.text() for p in found))

    async def _show_annotations(self, image_id: int) -> None:
        found = await self.controller.annotations(image_id)
        if found and self.candidate is not None and self.candidate.id == image_id:
            self._set_annotation(found[0])

    def _set_annotation(self, a: Annotation) -> None:
        when = a.created_at.strftime("%Y-%m-%d %H:%M")
        text = a.text.replace("&", "&amp;").replace("<", "&lt;").replace("\n", "<br>")
        self.annotation.setText(
            f"<span style='color:{theme.MUTED}'>{a.provider} · {a.model} · {when}</span><br>{text}"
        )

    def annotate(self) -> None:
        if self.candidate is not None:
            spawn(self._annotate(self.candidate.id), name="verify-annotate")

    async def _annotate(self, image_id: int) -> None:
        self.annotate_button.setEnabled(False)
        self.annotation.setText(f"#{image_id}: asking the model… (this can take a minute)")
        try:
            found = await self.controller.annotate(image_id)
        except AnnotationError as exc:
            if self.candidate is not None and self.candidate.id == image_id:
                self.annotation.setText(
                    f"<span style='color:{theme.BAD}'>No annotation: {exc}</span>"
                )
            return
        finally:
            self.annotate_button.setEnabled(self.candidate is not None)
        if self.candidate is not None and self.candidate.id == image_id:
            self._set_annotation(found)
        self.status.setText(f"#{image_id}: annotated by {found.provider}/{found.model}")

    def _open_link(self, service: str) -> None:
        cand = self.candidate
        pos = cand.image.provenance.sky if cand else None
        if cand is None or pos is None:
            return
        radius = max((x.radius_arcsec for x in cand.crossmatches), default=10.0)
        url = simbad_url(pos, radius) if service == "simbad" else ned_url(pos, radius)
        self.link_requested.emit(url)

    # ------------------------------------------------------------------ actions

    def label(self, value: LabelValue) -> None:
        if self.candidate is None:
            return
        spawn(
            self._label(self.candidate.id, value, self.note.text().strip(), advance=True),
            name="verify-label",
        )

    def save_note(self) -> None:
        cand = self.candidate
        if cand is None:
            return
        if cand.label is None:
            self.status.setText("Press T, F or U to label: the note is saved with the label.")
            return
        spawn(
            self._label(cand.id, cand.label.value, self.note.text().strip(), advance=False),
            name="verify-note",
        )

    async def _label(self, image_id: int, value: LabelValue, note: str, *, advance: bool) -> None:
        await self.controller.label(image_id, value, note=note, origin="ui")
        self.status.setText(
            f"#{image_id}: saved {LABEL_TEXT[value]}" + (" with note" if note else "")
        )
        self.labelled.emit(image_id, value)
        if self.candidate is not None and self.candidate.id == image_id:
            fresh = await self.controller.get_candidate(image_id)
            if fresh is not None:
                self.show_candidate(fresh)
        if advance:
            await self.load_queue()  # the label re-ranked the queue: go on in the new order
            self.next()

    def retry_crossmatch(self) -> None:
        if self.candidate is not None:
            self.status.setText(f"#{self.candidate.id}: asking the catalogs again…")
            spawn(self.controller.retry_crossmatch(self.candidate.id), name="verify-retry")

    def _catalog_changed(self, image_id: int, stored: Candidate | None = None) -> None:
        if self.candidate is None or self.candidate.id != image_id:
            return
        if stored is None:  # only "asking now": read what the store holds
            spawn(self._reload(image_id), name="verify-reload")
            return
        self.show_candidate(stored)
        self.status.setText(f"#{image_id}: {CATALOG_TEXT[stored.catalog_verdict]}")

    async def _reload(self, image_id: int) -> None:
        fresh = await self.controller.get_candidate(image_id)
        if fresh is not None:  # shown as if the event had carried it
            self._catalog_changed(image_id, fresh)
