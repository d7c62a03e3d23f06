"""CatalogCrossMatcher: asks every enabled catalog about positions, politely, off the loop.

Implements `astrolens.domain.ports.CrossMatcher`. Each blocking client runs in the executor
the app passes (its "io" pool). Per service: a rate gate, batching up to the client's
`max_batch`, and the disk cache. A failure, even a bug, becomes that service's ERROR with a
reason; it never raises and never reads as NO_MATCH.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any, Protocol

from astrolens.catalogs.base import SchemaState
from astrolens.catalogs.cache import CrossMatchCache
from astrolens.catalogs.failures import describe_failure
from astrolens.catalogs.rate import DEFAULT_POLICIES, RatePolicy, ServiceGate
from astrolens.domain.crossmatch import CrossMatch, MatchStatus
from astrolens.domain.sky import SkyPosition

log = logging.getLogger(__name__)


class BlockingCatalog(Protocol):
    service: str
    catalog: str | None
    max_batch: int

    @property
    def schema(self) -> SchemaState: ...

    def check_schema(self) -> SchemaState: ...

    def query(self, positions: Sequence[SkyPosition], radius_arcsec: float) -> list[CrossMatch]: ...


class CatalogCrossMatcher:
    def __init__(
        self,
        clients: Sequence[BlockingCatalog],
        executor: Executor | None = None,
        *,
        cache: CrossMatchCache | None = None,
        policies: dict[str, RatePolicy] | None = None,
    ) -> None:
        self.clients = list(clients)
        self._executor = executor
        self._cache = cache
        policies = {**DEFAULT_POLICIES, **(policies or {})}
        # One gate per service (not per client): two VizieR catalogs share VizieR's budget.
        self._gates = {
            c.service: ServiceGate.for_service(c.service, policies[c.service])
            for c in self.clients
            if c.service in policies
        }

    # -- start-up ---------------------------------------------------------------------
    async def check_schemas(self) -> list[SchemaState]:
        """Run every client's schema check; a mismatch disables that client, loudly."""
        loop = asyncio.get_running_loop()
        states = await asyncio.gather(
            *(loop.run_in_executor(self._executor, self._check_one, c) for c in self.clients)
        )
        for state in states:
            if state.checked and not state.enabled:
                log.error("catalog %s disabled: %s", state.service, state.reason)
            elif not state.checked:
                log.warning("catalog %s: %s", state.service, state.reason)
        return list(states)

    def schema_states(self) -> list[SchemaState]:
        return [c.schema for c in self.clients]

    def _check_one(self, client: BlockingCatalog) -> SchemaState:
        gate = self._gates.get(client.service)
        if gate is None:
            return client.check_schema()
        with gate.slot():
            return client.check_schema()

    # -- queries ----------------------------------------------------------------------
    async def crossmatch(self, position: SkyPosition, radius_arcsec: float) -> list[CrossMatch]:
        (result,) = await self.crossmatch_many([position], radius_arcsec)
        return result

    async def crossmatch_many(
        self, positions: Sequence[SkyPosition], radius_arcsec: float
    ) -> list[list[CrossMatch]]:
        """For each position, one CrossMatch per client (in client order)."""
        positions = list(positions)
        if not positions:
            return []
        loop = asyncio.get_running_loop()
        jobs = []
        for client in self.clients:
            for chunk in _chunks(positions, max(1, client.max_batch)):
                jobs.append(
                    loop.run_in_executor(
                        self._executor, self.query_blocking, client, chunk, radius_arcsec
                    )
                )
        answers = await asyncio.gather(*jobs)
        per_client: list[list[CrossMatch]] = []
        i = 0
        for client in self.clients:
            collected: list[CrossMatch] = []
            for _ in _chunks(positions, max(1, client.max_batch)):
                collected.extend(answers[i])
                i += 1
            per_client.append(collected)
        return [[per_client[c][p] for c in range(len(self.clients))] for p in range(len(positions))]

    def query_blocking(
        self, client: BlockingCatalog, positions: Sequence[SkyPosition], radius_arcsec: float
    ) -> list[CrossMatch]:
        """Cache, then gate, then the client, for one batch. Safe to call from any thread."""
        try:
            return self._query_blocking(client, positions, radius_arcsec)
        except Exception as exc:  # a bug in a client must not take the pipeline down
            log.exception("catalog %s failed unexpectedly", client.service)
            reason = f"internal error: {describe_failure(exc)}"
            return [
                CrossMatch(
                    client.service,
                    MatchStatus.ERROR,
                    radius_arcsec,
                    reason=reason,
                    checked_at=datetime.now(UTC),
                    catalog=client.catalog,
                )
                for _ in positions
            ]

    def _query_blocking(
        self, client: BlockingCatalog, positions: Sequence[SkyPosition], radius_arcsec: float
    ) -> list[CrossMatch]:
        results: list[CrossMatch | None] = [None] * len(positions)
        if self._cache is not None:
            for i, pos in enumerate(positions):
                results[i] = self._cache.get(client.service, pos, radius_arcsec, client.catalog)
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            todo = [positions[i] for i in missing]
            gate = self._gates.get(client.service)
            if gate is None:
                fresh = client.query(todo, radius_arcsec)
            else:
                with gate.slot():
                    fresh = client.query(todo, radius_arcsec)
            for i, answer in zip(missing, fresh, strict=True):
                results[i] = answer
                if self._cache is not None:
                    self._cache.put(positions[i], answer)
        return [r for r in results if r is not None]


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
