"""The gallery's Qt model: pages fetched lazily through the controller, thumbnails decoded
off the GUI thread into a bounded LRU cache.

Memory and work stay proportional to what the user has scrolled through, not to the store:
with 100k candidates the view asks for the first page only, and more as the user reaches the
end (Qt's canFetchMore/fetchMore protocol). Thumbnails are decoded only for rows the view
paints, and at most `cache_size` stay in memory.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from typing import Any

from PyQt6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPixmap

from astrolens.domain.agent import AgentController, CandidateQuery
from astrolens.domain.candidates import Candidate
from astrolens.ui.display import placeholder_pixmap, to_pixmap
from astrolens.ui.tasks import spawn
from astrolens.ui.text import short_summary

log = logging.getLogger(__name__)

CandidateRole = Qt.ItemDataRole.UserRole + 1
AnyIndex = QModelIndex | QPersistentModelIndex


class ThumbnailCache:
    """At most `capacity` pixmaps; the least recently painted one goes first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[int, QPixmap] = OrderedDict()

    def get(self, key: int) -> QPixmap | None:
        pm = self._items.get(key)
        if pm is not None:
            self._items.move_to_end(key)
        return pm

    def put(self, key: int, pm: QPixmap) -> None:
        self._items[key] = pm
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()


class CandidateListModel(QAbstractListModel):
    total_changed = pyqtSignal(int)
    page_loaded = pyqtSignal(int, int)  # offset, rows

    def __init__(
        self,
        controller: AgentController,
        *,
        page_size: int = 200,
        thumb_size: int = 128,
        cache_size: int = 1500,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.page_size = page_size
        self.thumb_size = thumb_size
        self.thumbnails = ThumbnailCache(cache_size)
        self.query = CandidateQuery(limit=page_size)
        self.total = 0
        self.fetched_offsets: list[int] = []  # which pages were asked for: the tests read it
        self.thumbnails_requested = 0
        self._rows: list[Candidate] = []
        self._row_of: dict[int, int] = {}
        self._fetching = False
        self._generation = 0
        self._loading: set[int] = set()
        self._placeholder = QPixmap(thumb_size, thumb_size)
        self._placeholder.fill(QColor("#1e293b"))
        # Cached for a thumbnail that cannot be made, so painting does not retry it forever.
        self._unavailable = placeholder_pixmap("no preview", thumb_size, thumb_size)

    # ------------------------------------------------------------------ query

    def set_query(self, query: CandidateQuery) -> None:
        """Start over with a new filter: drop rows, count, then fetch the first page."""
        self.beginResetModel()
        self._generation += 1
        self.query = dataclasses.replace(query, limit=self.page_size, offset=0)
        self._rows.clear()
        self._row_of.clear()
        self.total = 0
        self._fetching = False
        self.endResetModel()
        spawn(self._count(self._generation), name="gallery-count")

    def refresh(self) -> None:
        self.set_query(self.query)

    async def _count(self, generation: int) -> None:
        total = await self.controller.count_candidates(self.query)
        if generation != self._generation:
            return
        self.total = total
        self.total_changed.emit(total)
        if self.canFetchMore(QModelIndex()):
            self.fetchMore(QModelIndex())

    # ------------------------------------------------------------------ Qt protocol

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return not parent.isValid() and not self._fetching and len(self._rows) < self.total

    def fetchMore(self, parent: AnyIndex) -> None:
        if not self.canFetchMore(parent):
            return
        self._fetching = True
        offset = len(self._rows)
        self.fetched_offsets.append(offset)
        spawn(self._fetch_page(self._generation, offset), name=f"gallery-page-{offset}")

    async def _fetch_page(self, generation: int, offset: int) -> None:
        try:
            page = await self.controller.candidates(dataclasses.replace(self.query, offset=offset))
        finally:
            if generation == self._generation:
                self._fetching = False
        if generation != self._generation or not page:
            if generation == self._generation and not page:
                self.total = len(self._rows)  # the store had fewer than it counted
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        for i, cand in enumerate(page):
            self._rows.append(cand)
            self._row_of[cand.id] = first + i
        self.endInsertRows()
        self.page_loaded.emit(offset, len(page))

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        cand = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return cand.image.display_name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(cand)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"#{cand.id} {cand.image.display_name}\n{short_summary(cand)}"
        if role == CandidateRole:
            return cand
        return None

    # ------------------------------------------------------------------ rows

    def candidate_at(self, row: int) -> Candidate | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def replace_candidate(self, cand: Candidate) -> None:
        """A label or a cross-match changed one candidate: update its row in place."""
        row = self._row_of.get(cand.id)
        if row is None:
            return
        self._rows[row] = cand
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    # ------------------------------------------------------------------ thumbnails

    def _thumbnail(self, cand: Candidate) -> QPixmap:
        pm = self.thumbnails.get(cand.id)
        if pm is not None:
            return pm
        if cand.id not in self._loading:
            self._loading.add(cand.id)
            self.thumbnails_requested += 1
            spawn(self._load_thumbnail(cand.id), name=f"thumb-{cand.id}")
        return self._placeholder

    def _fill_tile(self, pm: QPixmap) -> QPixmap:
        """A 43 px stamp drawn at 43 px is a speck in a 128 px tile: scale small ones up, with
        square pixels (no smoothing invents detail)."""
        if max(pm.width(), pm.height()) >= self.thumb_size:
            return pm
        return pm.scaled(
            self.thumb_size,
            self.thumb_size,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation,
        )

    async def _load_thumbnail(self, image_id: int) -> None:
        try:
            shown = await self.controller.display_image(image_id, max_side=self.thumb_size)
            pm = self._unavailable if shown is None else self._fill_tile(to_pixmap(shown))
        except Exception as exc:  # one unreadable file must not blank the grid
            log.info("no thumbnail for image %s: %s", image_id, exc)
            pm = self._unavailable
        finally:
            self._loading.discard(image_id)
        self.thumbnails.put(image_id, pm)
        row = self._row_of.get(image_id)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
