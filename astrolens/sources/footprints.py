"""Deterministic sky positions inside each survey's footprint, generated in code (no data file).

Position `i` of a sequence is drawn from a PRNG seeded by (survey, seed, i), so a sequence is
the same on every machine and a cursor can simply be the index. Points are uniform in area
(uniform RA, uniform sin(Dec)) inside boxes that lie well within each footprint; the boxes are
deliberately conservative so that nearly every point has data.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from astrolens.domain.sky import SkyPosition


@dataclass(frozen=True, slots=True)
class SkyBox:
    ra_min: float  # may be negative to cross RA = 0
    ra_max: float
    dec_min: float
    dec_max: float

    @property
    def area_sr(self) -> float:
        d_ra = math.radians(self.ra_max - self.ra_min)
        return d_ra * (math.sin(math.radians(self.dec_max)) - math.sin(math.radians(self.dec_min)))

    def sample(self, rng: random.Random) -> SkyPosition:
        ra = rng.uniform(self.ra_min, self.ra_max)
        s = rng.uniform(math.sin(math.radians(self.dec_min)), math.sin(math.radians(self.dec_max)))
        return SkyPosition(ra % 360.0, math.degrees(math.asin(s)))


# SDSS imaging: the Legacy northern cap (core of the DR7 ellipse) and Stripe 82.
SDSS_BOXES = (SkyBox(135.0, 230.0, 5.0, 55.0), SkyBox(-50.0, 55.0, -1.2, 1.2))
# Legacy Surveys DR10 (DECam, the `ls-dr10` layer): DECaLS in both caps and the DES area,
# south of Dec +32 where DR10 is DECam data. Galaxy Zoo DECaLS targets lie in the same area.
LEGACY_DR10_BOXES = (
    SkyBox(125.0, 235.0, -10.0, 30.0),
    SkyBox(-35.0, 40.0, -60.0, 30.0),
)
# ZTF: the whole sky north of Dec -28 (the camera reaches -30 from Palomar).
ZTF_BOXES = (SkyBox(0.0, 360.0, -28.0, 85.0),)

_GALACTIC_POLE = SkyPosition(192.85948, 27.12825)  # ICRS position of the north galactic pole


def galactic_latitude(pos: SkyPosition) -> float:
    return 90.0 - pos.separation_arcsec(_GALACTIC_POLE) / 3600.0


def footprint_position(
    boxes: tuple[SkyBox, ...], index: int, *, survey: str, seed: int = 0, min_abs_b: float = 0.0
) -> SkyPosition:
    """The `index`-th position of a survey's sequence. Rejects |b| < min_abs_b deterministically."""
    rng = random.Random(f"{survey}:{seed}:{index}")
    weights = [box.area_sr for box in boxes]
    for _ in range(1000):
        box = rng.choices(boxes, weights=weights)[0]
        pos = box.sample(rng)
        if abs(galactic_latitude(pos)) >= min_abs_b:
            return pos
    raise ValueError(f"no point of {survey} boxes with |b| >= {min_abs_b}")
