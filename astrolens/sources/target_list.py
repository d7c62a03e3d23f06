"""A user's own target list (CSV, ECSV, VOTable or FITS table with RA/Dec) as a source.

Each row becomes one cutout at its position from the Legacy Survey viewer or SDSS ImgCutout,
built with that survey's own request builder and fetched through the same polite transport
(the survey's rate, retries and cache), so "scan these 5,000 galaxies from my catalog" is one
command. The cursor is [row index]: an interrupted scan resumes where it stopped, and the
source id carries the list's name and a digest of its positions, so two lists never share a
cursor.

Reading: astropy.table reads every format; the RA/Dec columns are found by name (ra, RAJ2000,
ra_deg, ...) or, in a VOTable, by UCD; sexagesimal strings and hour-angle or radian units are
converted with astropy.coordinates. A row without a usable position is skipped and reported,
never fatal.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Unpack

from astrolens.domain.errors import ConfigurationError
from astrolens.domain.images import ImageGroup, Provenance, RawImage
from astrolens.domain.sky import SkyPosition
from astrolens.domain.sources import FetchTask
from astrolens.sources import legacy_survey, sdss
from astrolens.sources.http import Expect, PoliteTransport
from astrolens.sources.online_base import OnlineSource, Wiring, decode_position, encode_position

SURVEYS = ("legacy-survey", "sdss")
RA_NAMES = ("ra", "ra_deg", "radeg", "raj2000", "_raj2000", "ra_icrs", "ra_j2000", "alpha")
DEC_NAMES = ("dec", "dec_deg", "decdeg", "dej2000", "_dej2000", "dec_icrs", "de_icrs", "decj2000")
DEC_NAMES += ("dec_j2000", "delta", "de")
NAME_NAMES = ("name", "id", "objid", "object", "main_id", "source_id", "target", "galaxy")
_FORMATS = {
    ".csv": "ascii.csv",
    ".txt": "ascii",
    ".tsv": "ascii.tab",
    ".ecsv": "ascii.ecsv",
    ".vot": "votable",
    ".xml": "votable",
    ".votable": "votable",
    ".fits": "fits",
    ".fit": "fits",
}


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    position: SkyPosition


@dataclass(frozen=True, slots=True)
class TargetList:
    path: Path
    targets: tuple[Target, ...]
    skipped: tuple[str, ...] = ()  # "row 7: no RA/Dec" for each row left out

    @property
    def digest(self) -> str:
        h = hashlib.sha1()
        for t in self.targets:
            h.update(f"{t.position.ra_deg:.7f},{t.position.dec_deg:.7f};".encode())
        return h.hexdigest()[:8]

    @property
    def source_id(self) -> str:
        stem = re.sub(r"[^a-z0-9]+", "-", self.path.stem.lower()).strip("-") or "list"
        return f"targets-{stem}-{self.digest}"


# -- reading (blocking: astropy) -----------------------------------------------------------------


def _table_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".gz"] and len(suffixes) >= 2:
        suffixes = suffixes[:-1]
    fmt = _FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        known = ", ".join(sorted(_FORMATS))
        raise ConfigurationError(f"{path.name}: not a table format AstroLens reads ({known})")
    return fmt


def _pick(columns: Sequence[Any], names: Sequence[str], ucd: str) -> Any | None:
    by_name = {c.info.name.lower(): c for c in columns}
    for name in names:
        if name in by_name:
            return by_name[name]
    for col in columns:  # a VOTable names its columns freely but tags them with UCDs
        if ucd in str((col.info.meta or {}).get("ucd", "")).lower():
            return col
    return None


def _values_deg(column: Any, *, is_ra: bool) -> list[float | None]:
    """The column's values in degrees; None where a value is missing or unreadable."""
    import astropy.units as u
    from astropy.coordinates import Angle

    unit = column.info.unit
    out: list[float | None] = []
    for value in column:
        try:
            if value is None or _masked(value):
                out.append(None)
                continue
            if isinstance(value, (str, bytes)):
                text = value.decode() if isinstance(value, bytes) else value
                text = text.strip()
                if not text:
                    out.append(None)
                    continue
                sexagesimal = any(ch in text for ch in ":hms ") and is_ra
                angle = Angle(text, unit=u.hourangle if sexagesimal else u.deg)
                deg = float(angle.deg)
            else:
                number = float(value)
                deg = (number * unit).to_value(u.deg) if unit is not None else number
            out.append(deg if math.isfinite(deg) else None)
        except (ValueError, TypeError, u.UnitsError):
            out.append(None)
    return out


def _masked(value: Any) -> bool:
    import numpy as np

    return value is np.ma.masked


def read_target_list(path: Path) -> TargetList:
    from astropy.table import Table

    path = path.expanduser()
    if not path.is_file():
        raise ConfigurationError(f"no such file: {path}")
    fmt = _table_format(path)
    try:
        table = Table.read(path, format=fmt)
    except Exception as exc:  # astropy raises many types for a malformed table
        raise ConfigurationError(f"{path.name}: not a readable {fmt} table: {exc}") from exc
    columns = list(table.columns.values())
    ra_col = _pick(columns, RA_NAMES, "pos.eq.ra")
    dec_col = _pick(columns, DEC_NAMES, "pos.eq.dec")
    if ra_col is None or dec_col is None:
        names = ", ".join(table.colnames) or "none"
        raise ConfigurationError(
            f"{path.name}: no RA/Dec columns found (columns: {names}); "
            "name them ra and dec, in degrees"
        )
    name_col = _pick(columns, NAME_NAMES, "meta.id")
    ras, decs = _values_deg(ra_col, is_ra=True), _values_deg(dec_col, is_ra=False)
    targets: list[Target] = []
    skipped: list[str] = []
    for i, (ra, dec) in enumerate(zip(ras, decs, strict=True)):
        row = i + 1
        if ra is None or dec is None:
            skipped.append(f"row {row}: no readable RA/Dec")
            continue
        try:
            position = SkyPosition(ra, dec)
        except ValueError as exc:
            skipped.append(f"row {row}: {exc}")
            continue
        name = ""
        if name_col is not None and not _masked(name_col[i]):
            raw = name_col[i]
            name = (raw.decode() if isinstance(raw, bytes) else str(raw)).strip()
        targets.append(Target(name or f"row {row}", position))
    return TargetList(path, tuple(targets), tuple(skipped))


# -- the source ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetListConfig:
    targets: TargetList
    survey: str = "legacy-survey"
    legacy: legacy_survey.LegacySurveyConfig = field(
        default_factory=legacy_survey.LegacySurveyConfig
    )
    sdss: sdss.SdssConfig = field(default_factory=sdss.SdssConfig)
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.survey not in SURVEYS:
            raise ConfigurationError(f"survey must be one of {', '.join(SURVEYS)}")

    def policy(self) -> Any:
        # The survey's own politeness: a target list is never faster than the survey allows.
        return self.legacy.policy() if self.survey == "legacy-survey" else self.sdss.policy()

    def cutout(self, position: SkyPosition) -> tuple[str, dict[str, str]]:
        if self.survey == "legacy-survey":
            return legacy_survey.cutout_request(self.legacy, position)
        return sdss.cutout_request(self.sdss, position)

    def describe(self) -> tuple[str, str, float, str]:
        """(survey title, bands, arcsec per pixel, file suffix) of the cutouts."""
        if self.survey == "legacy-survey":
            cfg = self.legacy
            return f"Legacy Surveys {cfg.layer}", cfg.bands, cfg.pixscale_arcsec, cfg.image_format
        return f"SDSS {self.sdss.data_release.upper()}", "gri", self.sdss.scale_arcsec, "jpg"


class TargetListSource(OnlineSource):
    def __init__(self, config: TargetListConfig, **wiring: Unpack[Wiring]) -> None:
        self.config = config
        super().__init__(config.targets.source_id, ImageGroup.SURVEY, config, **wiring)

    async def plan(self, limit: int) -> list[FetchTask]:
        if not self.enabled:
            return []
        targets = self.config.targets.targets
        (index,) = decode_position(await self.cursor.position(), [0])
        tasks: list[FetchTask] = []
        while len(tasks) < limit:
            if index >= len(targets):
                self._note = "every target fetched"
                break
            target = targets[index]
            url, params = self.config.cutout(target.position)
            here = encode_position(index)
            index += 1
            self.cursor.planned(here, encode_position(index))
            tasks.append(
                FetchTask(
                    self.id,
                    PoliteTransport.build_url(url, params),
                    here,
                    target.position,
                    {"target": target.name, "row": index},
                )
            )
        return tasks

    async def fetch(self, task: FetchTask) -> RawImage:
        with self._counting():
            reply = await self.transport.get(task.uri, expect=Expect.IMAGE)
        survey, bands, scale, suffix = self.config.describe()
        name = str(task.meta.get("target", "target"))
        provenance = Provenance(
            source_id=self.id,
            uri=task.uri,
            survey=survey,
            bands=bands,
            pixel_scale_arcsec=scale,
            sky=task.sky,
            extra={
                "target": name,
                "row": task.meta.get("row"),
                "list": self.config.targets.path.name,
                "from_cache": reply.from_cache,
            },
        )
        safe = re.sub(r"[^A-Za-z0-9+.-]+", "_", name)[:60] or "target"
        return RawImage(provenance, f"{safe}.{suffix}", reply.body, ImageGroup.SURVEY)
