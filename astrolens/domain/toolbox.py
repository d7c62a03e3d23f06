"""Sending candidates to the astronomer's other tools: formats, SAMP messages, and the rules
the UI and the CLI share (which export format a file name asks for, which candidate another
tool pointed at). Pure: the writers and the SAMP client live in `astrolens.interop`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from astrolens.domain.candidates import Candidate
from astrolens.domain.sky import SkyPosition


class ExportFormat(enum.StrEnum):
    VOTABLE = "votable"
    FITS = "fits"
    ECSV = "ecsv"
    CSV = "csv"
    PARQUET = "parquet"
    DS9 = "ds9"  # a DS9 region file: candidate positions only
    CRTF = "crtf"  # CASA region text format: candidate positions only

    @property
    def suffix(self) -> str:
        return _SUFFIX[self]

    @property
    def is_region(self) -> bool:
        return self in (ExportFormat.DS9, ExportFormat.CRTF)


_SUFFIX = {
    ExportFormat.VOTABLE: ".vot",
    ExportFormat.FITS: ".fits",
    ExportFormat.ECSV: ".ecsv",
    ExportFormat.CSV: ".csv",
    ExportFormat.PARQUET: ".parquet",
    ExportFormat.DS9: ".reg",
    ExportFormat.CRTF: ".crtf",
}
_BY_SUFFIX = {
    ".vot": ExportFormat.VOTABLE,
    ".votable": ExportFormat.VOTABLE,
    ".xml": ExportFormat.VOTABLE,
    ".fits": ExportFormat.FITS,
    ".fit": ExportFormat.FITS,
    ".ecsv": ExportFormat.ECSV,
    ".csv": ExportFormat.CSV,
    ".parquet": ExportFormat.PARQUET,
    ".reg": ExportFormat.DS9,
    ".crtf": ExportFormat.CRTF,
}


def format_for_path(path: Path) -> ExportFormat | None:
    """The format a file name asks for (`cands.vot` -> VOTable), or None if it says nothing."""
    return _BY_SUFFIX.get(path.suffix.lower())


@dataclass(frozen=True, slots=True)
class ExportReport:
    path: Path
    format: ExportFormat
    rows: int
    without_position: int  # rows whose RA/Dec are NaN (tables) or that were left out (regions)

    def text(self) -> str:
        if self.format.is_region:
            skipped = (
                f"; {self.without_position} without a sky position left out"
                if self.without_position
                else ""
            )
            return f"wrote {self.rows} regions to {self.path}{skipped}"
        no_pos = (
            f" ({self.without_position} without a sky position: RA/Dec are NaN)"
            if self.without_position
            else ""
        )
        return f"wrote {self.rows} candidates to {self.path} as {self.format.value}{no_pos}"


# -- SAMP ---------------------------------------------------------------------------------------


class SampMType(enum.StrEnum):
    """The SAMP 1.3 message types AstroLens sends and listens to."""

    TABLE_LOAD_VOTABLE = "table.load.votable"
    IMAGE_LOAD_FITS = "image.load.fits"
    POINT_AT_SKY = "coord.pointAt.sky"
    HIGHLIGHT_ROW = "table.highlight.row"


@dataclass(frozen=True, slots=True)
class SkyPointed:
    """Another tool (TOPCAT, Aladin, DS9) pointed at a position on the sky."""

    position: SkyPosition
    sender: str


@dataclass(frozen=True, slots=True)
class RowHighlighted:
    """Another tool highlighted a row of a table we sent: that row's candidate."""

    candidate_id: int
    sender: str


SampEvent = SkyPointed | RowHighlighted

# A pointer further than this from every candidate in the window selects nothing: TOPCAT
# broadcasts every row click, and most rows of a user's catalog are not our candidates.
DEFAULT_SELECT_RADIUS_ARCSEC = 60.0


def nearest_candidate(
    position: SkyPosition,
    candidates: Iterable[Candidate],
    max_arcsec: float = DEFAULT_SELECT_RADIUS_ARCSEC,
) -> Candidate | None:
    """The candidate closest to `position` within `max_arcsec`; candidates without a sky
    position never match."""
    best: tuple[float, Candidate] | None = None
    for cand in candidates:
        sky = cand.image.provenance.sky
        if sky is None:
            continue
        sep = sky.separation_arcsec(position)
        if sep <= max_arcsec and (best is None or sep < best[0]):
            best = (sep, cand)
    return best[1] if best else None


@dataclass(frozen=True, slots=True)
class SampStatus:
    connected: bool
    message: str  # what to tell the user: the hub's clients, or why there is none
    clients: tuple[str, ...] = ()  # names of the other registered applications


class ToolboxController(Protocol):
    """What the UI may ask of the agent to reach other tools. The app implements it; every
    coroutine pushes its blocking work (table writing, SAMP XML-RPC, downloads) to executors."""

    # Lists travel as the Candidates the window already holds: re-reading thousands of them
    # one by one from the store would cost more than writing them.
    async def export(
        self, candidates: Sequence[Candidate], fmt: ExportFormat, path: Path
    ) -> ExportReport: ...

    async def samp_status(self) -> SampStatus:
        """Connect to a running hub if not connected yet (never starts one)."""
        ...

    async def samp_start_hub(self) -> SampStatus:
        """Start a hub of our own: only when the user asks for it."""
        ...

    async def samp_send_table(self, candidates: Sequence[Candidate]) -> str: ...

    async def samp_point_at(self, candidate_id: int) -> str: ...

    async def samp_send_image(self, candidate_id: int) -> str: ...

    async def fetch_cutout(self, candidate_id: int, survey: str) -> Path:
        """A fresh cutout at the candidate's position from `legacy-survey` or `sdss`, through
        that source's polite transport; returns the saved file."""
        ...

    def on_samp_event(self, listener: Callable[[SampEvent], None]) -> Callable[[], None]:
        """Receive what other tools point at, on the loop thread; returns an unsubscribe."""
        ...
