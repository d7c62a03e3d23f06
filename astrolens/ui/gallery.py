"""The gallery: filters, a virtualised thumbnail grid and, for the selected candidate, the
zoomable viewer, per-detector scores, sky position with links, and 'more like this'."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from PyQt6.QtCore import QModelIndex, QRect, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from astrolens.domain.agent import AgentController, CandidateQuery
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.scoring import Verdict
from astrolens.ui import theme
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.display import to_pixmap
from astrolens.ui.gallery_model import CandidateListModel, CandidateRole
from astrolens.ui.links import format_sexagesimal, ned_url, simbad_url
from astrolens.ui.send_to import (
    SendToMenu,
    ask_export_path,
    export_list,
    send_to_button,
    toolbox_of,
)
from astrolens.ui.tasks import spawn
from astrolens.ui.text import CATALOG_TEXT, LABEL_TEXT, VERDICT_TEXT
from astrolens.ui.viewer import ImageViewer
from astrolens.ui.widgets import WrappedLabel

TILE = QSize(156, 184)
THUMB = 128

VERDICT_COLOUR = {Verdict.ANOMALY: theme.ANOMALY, Verdict.NEAR_MISS: theme.NEAR_MISS}


class CandidateDelegate(QStyledItemDelegate):
    """A tile: thumbnail, a verdict stripe, score and catalog outcome; a dot once labelled."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return TILE

    def paint(self, p: QPainter | None, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        cand: Candidate | None = index.data(CandidateRole)
        if p is None or cand is None:
            return
        r = option.rect.adjusted(4, 4, -4, -4)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        p.setPen(QColor(theme.ACCENT if selected else theme.BORDER))
        p.setBrush(QColor("#0c4a6e" if selected else theme.PANEL))
        p.drawRoundedRect(r, 6, 6)
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        if pm is not None and not pm.isNull():
            x = r.left() + (r.width() - pm.width()) // 2
            p.drawPixmap(x, r.top() + 6 + (THUMB - pm.height()) // 2, pm)
        stripe = QColor(VERDICT_COLOUR.get(cand.result.verdict, theme.MUTED))
        p.fillRect(QRect(r.left() + 6, r.top() + THUMB + 9, r.width() - 12, 3), stripe)
        p.setPen(QColor(theme.TEXT))
        f = p.font()
        f.setPointSizeF(8.5)
        p.setFont(f)
        text_r = QRect(r.left() + 6, r.top() + THUMB + 14, r.width() - 12, 16)
        p.drawText(text_r, Qt.AlignmentFlag.AlignLeft, f"#{cand.id}  {cand.result.score:.2f}")
        p.setPen(QColor(theme.MUTED))
        p.drawText(
            text_r.translated(0, 15),
            Qt.AlignmentFlag.AlignLeft,
            CATALOG_TEXT[cand.catalog_verdict],
        )
        if cand.label is not None:
            p.setBrush(QColor(theme.GOOD))
            p.setPen(Qt.PenStyle.NoPen)
            p.drawEllipse(r.right() - 14, r.top() + 8, 8, 8)
        p.restore()


class CandidateDetails(QWidget):
    """Everything about the selected candidate except the catalog verification."""

    open_verification = pyqtSignal(int)
    open_candidate = pyqtSignal(int)
    link_requested = pyqtSignal(str)

    def __init__(self, controller: AgentController) -> None:
        super().__init__()
        self.controller = controller
        self.candidate: Candidate | None = None
        self.viewer = ImageViewer(controller)
        self.title = WrappedLabel("Select a candidate")  # long file names wrap, never widen
        self.title.setObjectName("heading")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.sky = QLabel()
        self.sky.setTextFormat(Qt.TextFormat.RichText)
        self.sky.setOpenExternalLinks(False)  # routed through link_requested (testable)
        self.sky.linkActivated.connect(self.link_requested.emit)
        self.detectors = QTableWidget(0, 2)
        self.detectors.setHorizontalHeaderLabels(["Detector", "Score"])
        self.detectors.verticalHeader().setVisible(False)
        self.detectors.horizontalHeader().setStretchLastSection(True)
        self.detectors.setMaximumHeight(140)
        self.detectors.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.neighbours = QListWidget()
        self.neighbours.setViewMode(QListView.ViewMode.IconMode)
        self.neighbours.setIconSize(QSize(64, 64))
        self.neighbours.setFlow(QListView.Flow.LeftToRight)
        self.neighbours.setWrapping(False)
        self.neighbours.setFixedHeight(96)
        self.neighbours.itemActivated.connect(
            lambda it: self.open_candidate.emit(int(it.data(Qt.ItemDataRole.UserRole)))
        )
        self.verify = QPushButton("Verify against catalogs…")
        self.verify.setObjectName("primary")
        self.verify.clicked.connect(
            lambda: self.candidate and self.open_verification.emit(self.candidate.id)
        )
        self.verify.setEnabled(False)
        self.send_to = SendToMenu(toolbox_of(controller), lambda: self.candidate, parent=self)
        self.send_to.link_requested.connect(self.link_requested.emit)
        self.notice = QLabel()  # what Send to / Export did
        self.notice.setObjectName("muted")
        self.notice.setWordWrap(True)
        self.send_to.message.connect(self.notice.setText)

        info = QFormLayout()
        info.addRow(self.summary)
        info.addRow("Sky", self.sky)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.viewer, 3)
        lay.addLayout(info)
        lay.addWidget(self.detectors)
        lay.addWidget(QLabel("More like this"))
        lay.addWidget(self.neighbours)
        actions = QHBoxLayout()
        actions.addWidget(self.verify, 1)
        actions.addWidget(send_to_button(self.send_to))
        lay.addLayout(actions)
        lay.addWidget(self.notice)

    def show_candidate(self, cand: Candidate) -> None:
        self.candidate = cand
        self.verify.setEnabled(True)
        r = cand.result
        self.title.setText(f"#{cand.id} · {cand.image.display_name}")
        label = LABEL_TEXT[cand.label.value] if cand.label else "not labelled"
        self.summary.setText(
            f"<b style='color:{VERDICT_COLOUR.get(r.verdict, theme.TEXT)}'>"
            f"{VERDICT_TEXT[r.verdict]}</b> · score {r.score:.3f} · {r.explain()}<br>"
            f"{CATALOG_TEXT[cand.catalog_verdict]} · {label} · from "
            f"{cand.image.provenance.source_id}"
        )
        # the provenance a specialist may want, one hover away
        self.summary.setToolTip(
            f"model {cand.model_id} · calibration v{r.calibration_version}\n"
            f"{cand.image.provenance.uri}"
        )
        pos = cand.image.provenance.sky
        if pos is None:
            self.sky.setText(
                "<span style='color:#94a3b8'>no sky position (the file has no WCS)</span>"
            )
        else:
            self.sky.setText(
                f"{pos} ({format_sexagesimal(pos)}) · "
                f"<a style='color:{theme.ACCENT}' href='{simbad_url(pos)}'>SIMBAD</a> · "
                f"<a style='color:{theme.ACCENT}' href='{ned_url(pos)}'>NED</a>"
            )
        scores = sorted(r.detector_scores.items(), key=lambda kv: -kv[1])
        self.detectors.setRowCount(len(scores))
        for row, (name, value) in enumerate(scores):
            self.detectors.setItem(row, 0, QTableWidgetItem(name))
            self.detectors.setItem(row, 1, QTableWidgetItem(f"{value:.3f}"))
        self.viewer.show_candidate(cand.id)
        spawn(self._load_neighbours(cand.id), name="neighbours")

    async def _load_neighbours(self, image_id: int) -> None:
        found = await self.controller.neighbours(image_id, k=8)
        if self.candidate is None or self.candidate.id != image_id:
            return
        self.neighbours.clear()
        for n in found:
            item = QListWidgetItem(f"#{n.id}")
            item.setData(Qt.ItemDataRole.UserRole, n.id)
            item.setToolTip(f"{n.image.display_name} · score {n.result.score:.2f}")
            self.neighbours.addItem(item)
            spawn(self._neighbour_icon(item, n.id), name="neighbour-icon")

    async def _neighbour_icon(self, item: QListWidgetItem, image_id: int) -> None:
        from PyQt6.QtGui import QIcon

        try:
            shown = await self.controller.display_image(image_id, max_side=64)
        except Exception:  # the neighbour keeps its name; its own view says why
            return
        if shown is not None and item.listWidget() is self.neighbours:
            item.setIcon(QIcon(to_pixmap(shown)))


class GalleryPanel(QWidget):
    open_verification = pyqtSignal(int)
    link_requested = pyqtSignal(str)

    def __init__(self, controller: AgentController, bridge: AgentBridge) -> None:
        super().__init__()
        self.controller = controller
        self.model = CandidateListModel(controller, thumb_size=THUMB)
        self.verdict = QComboBox()
        self.verdict.addItem("Anomalies and near-misses", (Verdict.ANOMALY, Verdict.NEAR_MISS))
        self.verdict.addItem("Anomalies", (Verdict.ANOMALY,))
        self.verdict.addItem("Near-misses", (Verdict.NEAR_MISS,))
        self.source = QComboBox()
        self.source.addItem("All sources", None)
        for sid in controller.settings().sources:
            self.source.addItem(sid, sid)
        self.since = QComboBox()
        for text, hours in (
            ("Any time", None),
            ("Last 24 h", 24),
            ("Last 7 days", 168),
            ("Last 30 days", 720),
        ):
            self.since.addItem(text, hours)
        self.labelled = QComboBox()
        for text, value in (("Labelled or not", None), ("Unlabelled", False), ("Labelled", True)):
            self.labelled.addItem(text, value)
        self.catalog = QComboBox()
        self.catalog.addItem("Any catalog outcome", None)
        for cv in CatalogVerdict:
            self.catalog.addItem(CATALOG_TEXT[cv], cv)
        self.order = QComboBox()
        for text, key in (
            ("Highest score", "score"),
            ("Rank (learned)", "rank"),
            ("Newest", "newest"),
        ):
            self.order.addItem(text, key)
        self.count = QLabel()
        self.count.setObjectName("muted")
        self.export = QPushButton("Export…")
        self.export.setToolTip("The candidates of this filter as VOTable, FITS, CSV, … or regions")
        self.export.clicked.connect(self.export_filtered)
        bar = QHBoxLayout()
        for w in (self.verdict, self.source, self.since, self.labelled, self.catalog, self.order):
            bar.addWidget(w)
            w.currentIndexChanged.connect(self.apply_filters)
        bar.addStretch(1)
        bar.addWidget(self.count)
        bar.addWidget(self.export)

        self.view = QListView()
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setUniformItemSizes(True)  # no per-item size queries: smooth at 100k
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setGridSize(TILE)
        self.view.setSpacing(0)
        self.view.setItemDelegate(CandidateDelegate(self.view))
        self.view.setModel(self.model)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.activated.connect(
            lambda idx: self.open_verification.emit(self.model.candidate_at(idx.row()).id)
        )
        self.details = CandidateDetails(controller)
        self.details.open_verification.connect(self.open_verification.emit)
        self.details.open_candidate.connect(self.show_candidate_id)
        self.details.link_requested.connect(self.link_requested.emit)
        self.details.send_to.listed = self.filtered
        self.details.send_to.send_list.setVisible(True)
        self.export.setEnabled(toolbox_of(controller) is not None)

        split = QSplitter()
        split.addWidget(self.view)
        split.addWidget(self.details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([700, 520])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.addLayout(bar)
        lay.addWidget(split, 1)
        self.model.total_changed.connect(lambda n: self.count.setText(f"{n:,} candidates"))
        bridge.candidate_found.connect(lambda _: self._new_candidates())
        bridge.catalog_checked.connect(self._refresh_one)
        self._stale = False

    def current_filter(self) -> CandidateQuery:
        hours = self.since.currentData()
        return CandidateQuery(
            verdicts=self.verdict.currentData(),
            source_id=self.source.currentData(),
            labelled=self.labelled.currentData(),
            catalog_verdict=self.catalog.currentData(),
            since=datetime.now(UTC) - timedelta(hours=hours) if hours else None,
            order_by=self.order.currentData(),
        )

    def apply_filters(self) -> None:
        self.model.set_query(self.current_filter())

    async def filtered(self) -> list[Candidate]:
        """Every candidate the filters select, not only the tiles loaded so far."""
        query = dataclasses.replace(self.current_filter(), limit=1_000_000, offset=0)
        return await self.controller.candidates(query)

    def shown_candidates(self) -> list[Candidate]:
        return [c for c in (self.model.candidate_at(r) for r in range(self.model.rowCount())) if c]

    def export_filtered(self, *, choose=ask_export_path) -> None:  # type: ignore[no-untyped-def]
        toolbox = toolbox_of(self.controller)
        chosen = choose(self)
        if toolbox is None or chosen is None:
            return
        path, fmt = chosen

        async def go() -> None:
            self.details.notice.setText(f"exporting to {path.name}…")
            self.details.notice.setText(
                await export_list(toolbox, await self.filtered(), path, fmt)
            )

        spawn(go(), name="gallery-export")

    def _new_candidates(self) -> None:
        # Reload only when visible; otherwise on the next show (no work for a hidden grid).
        if self.isVisible():
            self.model.refresh()
        else:
            self._stale = True

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        if self._stale or self.model.total == 0:
            self._stale = False
            self.apply_filters()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        cand = self.model.candidate_at(current.row())
        if cand is not None:
            self.details.show_candidate(cand)

    def show_candidate_id(self, image_id: int) -> None:
        row = self.model.row_of(image_id)
        if row is not None:
            self.view.setCurrentIndex(self.model.index(row))
            self.view.scrollTo(self.model.index(row))
            return
        spawn(self._show_by_id(image_id), name="gallery-show")

    async def _show_by_id(self, image_id: int) -> None:
        cand = await self.controller.get_candidate(image_id)
        if cand is not None:
            self.details.show_candidate(cand)

    def _refresh_one(self, image_id: int, stored: Candidate | None = None) -> None:
        if stored is not None:  # the event carries the record as stored: no read needed
            if self.model.row_of(image_id) is not None:
                self.model.replace_candidate(stored)
            return
        spawn(self._reload_one(image_id), name="gallery-reload")

    async def _reload_one(self, image_id: int) -> None:
        if self.model.row_of(image_id) is None:
            return
        cand = await self.controller.get_candidate(image_id)
        if cand is not None:
            self._refresh_one(image_id, cand)
