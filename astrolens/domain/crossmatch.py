"""Catalog cross-match results. 'No match' and 'the catalog failed' are different states."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from astrolens.domain.sky import SkyPosition


class MatchStatus(enum.StrEnum):
    MATCH = "match"
    NO_MATCH = "no_match"
    ERROR = "error"
    PENDING = "pending"


class CatalogVerdict(enum.StrEnum):
    KNOWN_OBJECT = "known_object"
    KNOWN_FIELD = "known_field_unclassified"
    POSSIBLE_DISCOVERY = "possible_discovery"
    PENDING = "pending"
    INCOMPLETE = "incomplete"
    NO_POSITION = "no_position"  # no WCS: there is nothing to ask a catalog about


@dataclass(frozen=True, slots=True)
class CatalogObject:
    name: str
    object_type: str | None
    position: SkyPosition | None
    separation_arcsec: float
    redshift: float | None = None
    service: str = ""


@dataclass(frozen=True, slots=True)
class CrossMatch:
    service: str
    status: MatchStatus
    radius_arcsec: float
    objects: tuple[CatalogObject, ...] = ()
    reason: str = ""
    checked_at: datetime | None = None
    catalog: str | None = None

    def __post_init__(self) -> None:
        if self.status is MatchStatus.MATCH and not self.objects:
            raise ValueError("a match must carry at least one object")
        if self.status is MatchStatus.ERROR and not self.reason:
            raise ValueError("an error must say why")


# Object types that say "this is a catalogued thing, but nobody classified it".
_UNCLASSIFIED_TYPES = frozenset({"", "?", "unknown", "G?", "*?", "X", "IrS", "UV", "Radio", "IR"})


def _classified(obj: CatalogObject) -> bool:
    return (obj.object_type or "").strip() not in _UNCLASSIFIED_TYPES


def catalog_verdict(results: Iterable[CrossMatch]) -> CatalogVerdict:
    """Combine each service's answer into what the user is told.

    'Possible discovery' is claimed only when every service answered and none found anything:
    a failed catalog can hide a known object, so errors make the verdict incomplete.
    """
    results = list(results)
    if not results:
        return CatalogVerdict.PENDING
    matches = [r for r in results if r.status is MatchStatus.MATCH]
    if any(_classified(o) for r in matches for o in r.objects):
        return CatalogVerdict.KNOWN_OBJECT
    if matches:
        return CatalogVerdict.KNOWN_FIELD
    if any(r.status is MatchStatus.PENDING for r in results):
        return CatalogVerdict.PENDING
    if any(r.status is MatchStatus.ERROR for r in results):
        return CatalogVerdict.INCOMPLETE
    return CatalogVerdict.POSSIBLE_DISCOVERY


def nearest_object(results: Iterable[CrossMatch]) -> CatalogObject | None:
    objs = [o for r in results if r.status is MatchStatus.MATCH for o in r.objects]
    return min(objs, key=lambda o: o.separation_arcsec, default=None)


@dataclass(frozen=True, slots=True)
class CrossMatchRequest:
    candidate_id: int
    position: SkyPosition
    radius_arcsec: float
    services: tuple[str, ...] = field(default=())


def search_radius_arcsec(
    pixel_scale_arcsec: float | None,
    object_size_px: float | None,
    *,
    floor: float = 3.0,
    ceiling: float = 120.0,
) -> float:
    """The match radius grows with the pixel scale and the object's extent.

    Half the object's size (its radius) plus two pixels of astrometric slack, bounded so that
    a huge frame never queries half a degree and a tiny PSF never demands sub-arcsec agreement.
    """
    scale = pixel_scale_arcsec if pixel_scale_arcsec and pixel_scale_arcsec > 0 else 1.0
    size = object_size_px if object_size_px and object_size_px > 0 else 8.0
    radius = scale * (size / 2.0 + 2.0)
    return float(min(ceiling, max(floor, radius)))


# -- the one JSON shape of an answer (the store's rows and the catalog cache's bodies) ---------


def catalog_object_to_json(obj: CatalogObject) -> dict[str, Any]:
    return {
        "name": obj.name,
        "object_type": obj.object_type,
        "ra_deg": obj.position.ra_deg if obj.position else None,
        "dec_deg": obj.position.dec_deg if obj.position else None,
        "separation_arcsec": obj.separation_arcsec,
        "redshift": obj.redshift,
        "service": obj.service,
    }


def catalog_object_from_json(data: Mapping[str, Any]) -> CatalogObject:
    """Reads this shape and the catalog cache's older one ("ra"/"dec"), still on disk for up
    to the cache's 30 days."""
    ra = data.get("ra_deg", data.get("ra"))
    dec = data.get("dec_deg", data.get("dec"))
    return CatalogObject(
        name=str(data["name"]),
        object_type=data.get("object_type"),
        position=SkyPosition(float(ra), float(dec)) if ra is not None and dec is not None else None,
        separation_arcsec=float(data["separation_arcsec"]),
        redshift=None if data.get("redshift") is None else float(data["redshift"]),
        service=str(data.get("service", "")),
    )


def crossmatch_to_json(match: CrossMatch) -> dict[str, Any]:
    return {
        "service": match.service,
        "status": match.status.value,
        "radius_arcsec": match.radius_arcsec,
        "reason": match.reason,
        "checked_at": match.checked_at.isoformat() if match.checked_at else None,
        "catalog": match.catalog,
        "objects": [catalog_object_to_json(o) for o in match.objects],
    }


def crossmatch_from_json(data: Mapping[str, Any]) -> CrossMatch:
    checked_at = data.get("checked_at")
    return CrossMatch(
        service=str(data["service"]),
        status=MatchStatus(data["status"]),
        radius_arcsec=float(data["radius_arcsec"]),
        objects=tuple(catalog_object_from_json(o) for o in data.get("objects", ())),
        reason=str(data.get("reason", "")),
        checked_at=datetime.fromisoformat(checked_at) if checked_at else None,
        catalog=data.get("catalog"),
    )
