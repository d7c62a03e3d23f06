"""Sky positions in degrees (ICRS), with the few rules every layer agrees on."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SkyPosition:
    """An ICRS position in degrees. RA is wrapped into [0, 360); Dec must lie in [-90, 90]."""

    ra_deg: float
    dec_deg: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ra_deg) and math.isfinite(self.dec_deg)):
            raise ValueError(f"non-finite sky position: ({self.ra_deg}, {self.dec_deg})")
        if not -90.0 <= self.dec_deg <= 90.0:
            raise ValueError(f"declination out of range: {self.dec_deg}")
        object.__setattr__(self, "ra_deg", self.ra_deg % 360.0)

    def separation_arcsec(self, other: SkyPosition) -> float:
        """Great-circle separation (haversine form: stable for tiny angles)."""
        ra1, dec1 = math.radians(self.ra_deg), math.radians(self.dec_deg)
        ra2, dec2 = math.radians(other.ra_deg), math.radians(other.dec_deg)
        sdlat = math.sin((dec2 - dec1) / 2.0)
        sdlon = math.sin((ra2 - ra1) / 2.0)
        a = sdlat * sdlat + math.cos(dec1) * math.cos(dec2) * sdlon * sdlon
        return math.degrees(2.0 * math.asin(min(1.0, math.sqrt(a)))) * 3600.0

    def __str__(self) -> str:
        return f"RA {self.ra_deg:.5f}°, Dec {self.dec_deg:+.5f}°"
