"""DESI Legacy Imaging Surveys (the Galaxy Zoo DECaLS images): the viewer's cutout service.

`/viewer/cutout.jpg` gives the grz colour composite that Galaxy Zoo volunteers saw;
`/viewer/cutout.fits` gives the calibrated grz cube. Targets are either positions the user
supplies (e.g. the Galaxy Zoo DECaLS catalogue's ra/dec columns, read with read_targets_csv)
or, by default, a deterministic sequence inside the DR10 DECam footprint away from the
Galactic plane (|b| >= 20°, where the survey's extragalactic tiling is). The cursor is
[target index].
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

from astrolens.domain.images import ImageGroup, Provenance, RawImage
from astrolens.domain.sky import SkyPosition
from astrolens.domain.sources import FetchTask
from astrolens.sources.footprints import LEGACY_DR10_BOXES, footprint_position
from astrolens.sources.http import Expect, PoliteTransport
from astrolens.sources.online_base import (
    OnlineSource,
    PoliteConfig,
    Wiring,
    decode_position,
    encode_position,
)
from astrolens.sources.registry import SourceInfo, register

SOURCE_ID = "legacy-survey"
NATIVE_SCALE = 0.262  # arcsec per pixel of DECam as resampled by the Legacy Surveys


@dataclass(frozen=True, slots=True)
class LegacySurveyConfig(PoliteConfig):
    enabled: bool = True
    base_url: str = "https://www.legacysurvey.org"
    layer: str = "ls-dr10"
    pixscale_arcsec: float = NATIVE_SCALE
    cutout_px: int = 256  # the viewer caps cutouts at 512 px
    bands: str = "grz"
    image_format: str = "jpg"  # "jpg" (colour composite) or "fits" (grz cube)
    targets: tuple[SkyPosition, ...] = ()  # empty: sample the footprint
    min_abs_galactic_lat: float = 20.0
    seed: int = 0
    timeout_s: float = 30.0
    max_requests: int = 1
    period_s: float = 1.0
    concurrency: int = 2

    def __post_init__(self) -> None:
        if self.image_format not in ("jpg", "fits"):
            raise ValueError(f"image_format must be 'jpg' or 'fits', not {self.image_format!r}")
        if not 16 <= self.cutout_px <= 512:
            raise ValueError(f"Legacy Survey cutouts are 16..512 px, not {self.cutout_px}")


def cutout_request(cfg: LegacySurveyConfig, pos: SkyPosition) -> tuple[str, dict[str, str]]:
    url = f"{cfg.base_url.rstrip('/')}/viewer/cutout.{cfg.image_format}"
    params = {
        "ra": f"{pos.ra_deg:.6f}",
        "dec": f"{pos.dec_deg:.6f}",
        "layer": cfg.layer,
        "pixscale": f"{cfg.pixscale_arcsec:g}",
        "size": str(cfg.cutout_px),
    }
    if cfg.image_format == "fits":
        params["bands"] = cfg.bands
    return url, params


def read_targets_csv(path: Path) -> tuple[SkyPosition, ...]:
    """Positions from a CSV with `ra` and `dec` columns (degrees), e.g. a Galaxy Zoo DECaLS
    catalogue. Blocking: call it from an executor."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = {name.lower(): name for name in reader.fieldnames or []}
        if not {"ra", "dec"} <= fields.keys():
            raise ValueError(f"{path} needs 'ra' and 'dec' columns")
        return tuple(SkyPosition(float(r[fields["ra"]]), float(r[fields["dec"]])) for r in reader)


class LegacySurveySource(OnlineSource):
    def __init__(self, config: LegacySurveyConfig | None = None, **wiring: Unpack[Wiring]) -> None:
        self.config = config or LegacySurveyConfig()
        super().__init__(SOURCE_ID, ImageGroup.SURVEY, self.config, **wiring)

    def target(self, index: int) -> SkyPosition | None:
        targets: Sequence[SkyPosition] = self.config.targets
        if targets:
            return targets[index] if index < len(targets) else None
        return footprint_position(
            LEGACY_DR10_BOXES,
            index,
            survey="legacy-dr10",
            seed=self.config.seed,
            min_abs_b=self.config.min_abs_galactic_lat,
        )

    async def plan(self, limit: int) -> list[FetchTask]:
        if not self.enabled:
            return []
        (index,) = decode_position(await self.cursor.position(), [0])
        tasks: list[FetchTask] = []
        while len(tasks) < limit:
            pos = self.target(index)
            if pos is None:
                self._note = "every target fetched"
                break
            url, params = cutout_request(self.config, pos)
            here = encode_position(index)
            index += 1
            self.cursor.planned(here, encode_position(index))
            tasks.append(
                FetchTask(SOURCE_ID, PoliteTransport.build_url(url, params), here, pos, {})
            )
        return tasks

    async def fetch(self, task: FetchTask) -> RawImage:
        with self._counting():
            reply = await self.transport.get(task.uri, expect=Expect.IMAGE)
        cfg = self.config
        sky = task.sky
        where = f"{sky.ra_deg:.5f}_{sky.dec_deg:+.5f}" if sky else "cutout"
        provenance = Provenance(
            source_id=SOURCE_ID,
            uri=task.uri,
            survey=f"Legacy Surveys {cfg.layer}",
            bands=cfg.bands,
            pixel_scale_arcsec=cfg.pixscale_arcsec,
            sky=sky,
            extra={"layer": cfg.layer, "from_cache": reply.from_cache},
        )
        return RawImage(provenance, f"legacy_{where}.{cfg.image_format}", reply.body)


register(
    SourceInfo(
        id=SOURCE_ID,
        title="Legacy Survey (Galaxy Zoo DECaLS)",
        group=ImageGroup.SURVEY,
        online=True,
        factory=LegacySurveySource,
        description="DESI Legacy Imaging Surveys DR10 grz cutouts, as seen by Galaxy Zoo",
    )
)
