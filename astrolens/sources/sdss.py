"""SDSS: galaxies picked through the SkyServer SQL search, imaged with the ImgCutout service.

Planning walks a deterministic sequence of fields inside the imaging footprint
(footprints.SDSS_BOXES). For each field one SqlSearch query lists its galaxies (main-sample
magnitudes, ordered by objID so the answer, and hence the cursor, is stable); each galaxy is
one task. If the SQL answer is unreadable the field centre itself is imaged (the "bundled
footprint positions" fallback). The cursor is [field, galaxy index within the field].
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Unpack

from astrolens.domain.errors import SourceUnavailableError, UnreadableImageError
from astrolens.domain.images import ImageGroup, Provenance, RawImage
from astrolens.domain.sky import SkyPosition
from astrolens.domain.sources import FetchTask
from astrolens.sources.footprints import SDSS_BOXES, footprint_position
from astrolens.sources.http import Expect, PoliteTransport
from astrolens.sources.online_base import (
    OnlineSource,
    PoliteConfig,
    Wiring,
    decode_position,
    encode_position,
)
from astrolens.sources.registry import SourceInfo, register

SOURCE_ID = "sdss"
NATIVE_SCALE = 0.396  # arcsec per pixel of the SDSS camera


@dataclass(frozen=True, slots=True)
class SdssConfig(PoliteConfig):
    enabled: bool = True
    base_url: str = "https://skyserver.sdss.org"
    data_release: str = "dr18"
    cutout_px: int = 256  # ImgCutout accepts 64..2048
    scale_arcsec: float = NATIVE_SCALE
    field_arcmin: float = 10.0
    galaxies_per_field: int = 10
    max_r_mag: float = 17.77  # the main galaxy sample limit: resolved, well-measured galaxies
    use_sql: bool = True
    seed: int = 0
    timeout_s: float = 30.0
    max_requests: int = 1  # per period_s; SkyServer asks for at most 60 queries a minute
    period_s: float = 1.0
    concurrency: int = 2

    def __post_init__(self) -> None:
        if not 64 <= self.cutout_px <= 2048:
            raise ValueError(f"SDSS cutouts are 64..2048 px, not {self.cutout_px}")


# -- request builders (pure) --------------------------------------------------------------------


def cutout_request(cfg: SdssConfig, pos: SkyPosition) -> tuple[str, dict[str, str]]:
    url = f"{cfg.base_url.rstrip('/')}/{cfg.data_release}/SkyServerWS/ImgCutout/getjpeg"
    params = {
        "ra": f"{pos.ra_deg:.6f}",
        "dec": f"{pos.dec_deg:.6f}",
        "scale": f"{cfg.scale_arcsec:g}",
        "width": str(cfg.cutout_px),
        "height": str(cfg.cutout_px),
    }
    return url, params


def galaxy_sql(cfg: SdssConfig, center: SkyPosition) -> str:
    half = cfg.field_arcmin / 120.0
    ra_lo, ra_hi = center.ra_deg - half, center.ra_deg + half
    if ra_lo < 0 or ra_hi >= 360:  # a field across RA = 0 is two ranges
        ra_clause = f"(ra >= {ra_lo % 360:.5f} OR ra <= {ra_hi % 360:.5f})"
    else:
        ra_clause = f"ra BETWEEN {ra_lo:.5f} AND {ra_hi:.5f}"
    return (
        f"SELECT TOP {cfg.galaxies_per_field} objID, ra, dec FROM Galaxy "
        f"WHERE {ra_clause} AND dec BETWEEN {center.dec_deg - half:.5f} "
        f"AND {center.dec_deg + half:.5f} AND petroMag_r BETWEEN 10 AND {cfg.max_r_mag:g} "
        "ORDER BY objID"
    )


def sql_request(cfg: SdssConfig, center: SkyPosition) -> tuple[str, dict[str, str]]:
    url = f"{cfg.base_url.rstrip('/')}/{cfg.data_release}/SkyServerWS/SearchTools/SqlSearch"
    return url, {"cmd": galaxy_sql(cfg, center), "format": "csv"}


# -- parser (pure) ------------------------------------------------------------------------------


def parse_sql_csv(text: str) -> list[tuple[str, SkyPosition]]:
    """SqlSearch CSV: a `#Table1` line, a header, rows. Returns (objID, position) pairs."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        return []
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    fields = {name.lower(): name for name in reader.fieldnames or []}
    if not {"objid", "ra", "dec"} <= fields.keys():
        raise UnreadableImageError(f"SkyServer answer has no objID/ra/dec columns: {lines[0]!r}")
    rows = []
    for row in reader:
        try:
            pos = SkyPosition(float(row[fields["ra"]]), float(row[fields["dec"]]))
        except (TypeError, ValueError) as exc:
            raise UnreadableImageError(f"bad SkyServer row {row!r}") from exc
        rows.append((row[fields["objid"]].strip(), pos))
    return rows


# -- the source ---------------------------------------------------------------------------------


@dataclass
class _Field:
    index: int
    galaxies: list[tuple[str, SkyPosition]] = field(default_factory=list)


class SdssSource(OnlineSource):
    def __init__(self, config: SdssConfig | None = None, **wiring: Unpack[Wiring]) -> None:
        self.config = config or SdssConfig()
        super().__init__(SOURCE_ID, ImageGroup.SURVEY, self.config, **wiring)
        self._field: _Field | None = None

    def field_center(self, index: int) -> SkyPosition:
        return footprint_position(SDSS_BOXES, index, survey="sdss", seed=self.config.seed)

    async def _galaxies(self, index: int) -> list[tuple[str, SkyPosition]]:
        center = self.field_center(index)
        fallback = [(f"field{index}", center)]
        if not self.config.use_sql:
            return fallback
        url, params = sql_request(self.config, center)
        try:
            reply = await self.transport.get(url, params=params, expect=Expect.TEXT)
            return parse_sql_csv(reply.body.decode("utf-8", "replace"))
        except UnreadableImageError:
            return fallback  # the SQL service misbehaves but the sky is still there

    async def plan(self, limit: int) -> list[FetchTask]:
        if not self.enabled:
            return []
        index, item = decode_position(await self.cursor.position(), [0, 0])
        tasks: list[FetchTask] = []
        while len(tasks) < limit:
            if self._field is None or self._field.index != index:
                try:
                    self._field = _Field(index, await self._galaxies(index))
                except SourceUnavailableError:
                    break  # status() says why; the next plan() tries again from here
            galaxies = self._field.galaxies
            if item >= len(galaxies):
                index, item = index + 1, 0
                self.cursor.advance(encode_position(index, item))
                continue
            objid, pos = galaxies[item]
            url, params = cutout_request(self.config, pos)
            uri = PoliteTransport.build_url(url, params)
            here = encode_position(index, item)
            item += 1
            self.cursor.planned(here, encode_position(index, item))
            tasks.append(FetchTask(SOURCE_ID, uri, here, pos, {"objid": objid, "field": index}))
        return tasks

    async def fetch(self, task: FetchTask) -> RawImage:
        with self._counting():
            reply = await self.transport.get(task.uri, expect=Expect.IMAGE)
        objid = task.meta.get("objid", "cutout")
        provenance = Provenance(
            source_id=SOURCE_ID,
            uri=task.uri,
            survey=f"SDSS {self.config.data_release.upper()}",
            bands="gri",
            pixel_scale_arcsec=self.config.scale_arcsec,
            sky=task.sky,
            extra={"objid": objid, "from_cache": reply.from_cache},
        )
        return RawImage(provenance, f"sdss_{objid}.jpg", reply.body, ImageGroup.SURVEY)


register(
    SourceInfo(
        id=SOURCE_ID,
        title="SDSS",
        group=ImageGroup.SURVEY,
        online=True,
        factory=SdssSource,
        description="Sloan Digital Sky Survey gri colour cutouts of main-sample galaxies",
    )
)
