"""What every blocking catalog client shares: schema state, and the rule that a client
answers ERROR with a reason instead of raising."""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from astrolens.catalogs.failures import (
    CatalogDisabledError,
    SchemaMismatchError,
    describe_failure,
)
from astrolens.domain.crossmatch import CatalogObject, CrossMatch, MatchStatus
from astrolens.domain.sky import SkyPosition


@dataclass(frozen=True, slots=True)
class SchemaState:
    """The outcome of the start-up schema check, for the UI ('SIMBAD disabled: ...')."""

    service: str
    enabled: bool
    reason: str = ""
    checked: bool = False

    def describe(self) -> str:
        if not self.checked:
            return f"{self.service}: not checked yet"
        if self.enabled:
            return f"{self.service}: ok"
        return f"{self.service}: DISABLED ({self.reason})"


def require_columns(columns: Sequence[str], expected: Sequence[str], what: str) -> None:
    missing = [c for c in expected if c not in set(columns)]
    if missing:
        raise SchemaMismatchError(
            f"{what} lacks expected column(s) {', '.join(missing)}; got {', '.join(columns)}"
        )


def pick_column(columns: Sequence[str], alternatives: Sequence[str], what: str) -> str:
    """The first of `alternatives` present (services renamed columns across versions)."""
    for name in alternatives:
        if name in columns:
            return name
    raise SchemaMismatchError(
        f"{what} has none of the columns {', '.join(alternatives)}; got {', '.join(columns)}"
    )


class CatalogClient(abc.ABC):
    """A blocking client. Call `query` from an executor thread, never on the event loop.

    Subclasses provide `_fetch` (the astroquery call, blocking) and `_parse` (pure: the
    library's table to one CrossMatch per position) and `_fetch_schema` (columns to check).
    """

    service: str = ""
    catalog: str | None = None
    max_batch: int = 1

    def __init__(self) -> None:
        self._schema = SchemaState(self.service, enabled=True)
        self._lock = threading.Lock()

    @property
    def schema(self) -> SchemaState:
        return self._schema

    @property
    def enabled(self) -> bool:
        return self._schema.enabled

    def check_schema(self) -> SchemaState:
        """Ask the service for its columns. A mismatch disables this client loudly; a
        service that cannot be reached stays enabled (it is down, not changed)."""
        try:
            self._check_schema()
        except SchemaMismatchError as exc:
            self._schema = SchemaState(self.service, False, str(exc), checked=True)
        except Exception as exc:
            self._schema = SchemaState(
                self.service, True, f"schema not checked: {describe_failure(exc)}", checked=False
            )
        else:
            self._schema = SchemaState(self.service, True, "", checked=True)
        return self._schema

    def query(self, positions: Sequence[SkyPosition], radius_arcsec: float) -> list[CrossMatch]:
        """One CrossMatch per position, in order. Never raises for a service failure."""
        if not positions:
            return []
        if len(positions) > self.max_batch:
            raise ValueError(f"{self.service} takes at most {self.max_batch} positions a call")
        now = datetime.now(UTC)
        try:
            if not self._schema.enabled:
                raise CatalogDisabledError(self._schema.reason)
            raw = self._fetch(positions, radius_arcsec)
            results = self._parse(raw, positions, radius_arcsec)
        except Exception as exc:
            reason = describe_failure(exc)
            return [self.error(radius_arcsec, reason, now) for _ in positions]
        return [
            CrossMatch(
                service=r.service,
                status=r.status,
                radius_arcsec=r.radius_arcsec,
                objects=r.objects,
                reason=r.reason,
                checked_at=now,
                catalog=r.catalog,
            )
            for r in results
        ]

    def error(self, radius_arcsec: float, reason: str, when: datetime | None = None) -> CrossMatch:
        return CrossMatch(
            service=self.service,
            status=MatchStatus.ERROR,
            radius_arcsec=radius_arcsec,
            reason=reason,
            checked_at=when or datetime.now(UTC),
            catalog=self.catalog,
        )

    @abc.abstractmethod
    def _fetch(self, positions: Sequence[SkyPosition], radius_arcsec: float) -> Any: ...

    @abc.abstractmethod
    def _parse(
        self, raw: Any, positions: Sequence[SkyPosition], radius_arcsec: float
    ) -> list[CrossMatch]: ...

    @abc.abstractmethod
    def _check_schema(self) -> None: ...


def outcome(
    service: str,
    radius_arcsec: float,
    objects: Sequence[Any],
    catalog: str | None = None,
) -> CrossMatch:
    """MATCH when anything lies inside the radius, NO_MATCH otherwise (nearest first)."""
    objs = tuple(sorted(objects, key=lambda o: o.separation_arcsec))
    status = MatchStatus.MATCH if objs else MatchStatus.NO_MATCH
    return CrossMatch(service, status, radius_arcsec, objs, catalog=catalog)


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One parsed catalog row, before it is matched to a position."""

    name: str
    object_type: str | None
    position: SkyPosition
    redshift: float | None = None


def as_float(value: Any) -> float | None:
    return float(value) if value is not None else None


def cone_matches(
    service: str,
    rows: Sequence[CatalogRow],
    positions: Sequence[SkyPosition],
    radius_arcsec: float,
    catalog: str | None = None,
) -> list[CrossMatch]:
    """For each position, the rows inside the radius (one result per position). A batched
    answer does not say which cone a row came from, so rows are assigned by distance."""
    results = []
    for pos in positions:
        objects = []
        for row in rows:
            sep = pos.separation_arcsec(row.position)
            if sep <= radius_arcsec:
                objects.append(
                    CatalogObject(
                        name=row.name,
                        object_type=row.object_type,
                        position=row.position,
                        separation_arcsec=sep,
                        redshift=row.redshift,
                        service=service,
                    )
                )
        results.append(outcome(service, radius_arcsec, objects, catalog=catalog))
    return results


def cell(row: Any, name: str) -> Any:
    """A table cell as a plain Python value, None for masked/empty."""
    if name not in row.colnames:
        return None
    value = row[name]
    if value is None or getattr(value, "mask", False) is True:
        return None
    try:
        import numpy as np

        if np.ma.is_masked(value):
            return None
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, np.generic):
            value = value.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, str):
        value = " ".join(value.split())
        return value or None
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value
