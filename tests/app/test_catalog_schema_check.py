"""The agent checks each catalog's columns once at start: a changed service is reported and
disabled, never read as 'no match'; an unreachable one stays enabled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from astrolens.app.agent import AgentRuntime
from astrolens.app.context import AstroLensApp
from astrolens.catalogs.base import CatalogClient
from astrolens.catalogs.failures import SchemaMismatchError
from astrolens.catalogs.matcher import CatalogCrossMatcher
from astrolens.domain.crossmatch import CrossMatch, MatchStatus
from astrolens.domain.events import PipelineState
from astrolens.domain.sky import SkyPosition
from astrolens.settings.paths import app_paths

HERE = SkyPosition(150.0, 2.0)


class _Catalog(CatalogClient):
    def __init__(self, service: str, failure: Exception | None) -> None:
        self.service = service
        super().__init__()
        self.failure = failure
        self.checks = 0
        self.fetches = 0

    def _check_schema(self) -> None:
        self.checks += 1
        if self.failure is not None:
            raise self.failure

    def _fetch(self, positions: Sequence[SkyPosition], radius_arcsec: float) -> Any:
        self.fetches += 1
        return None

    def _parse(
        self, raw: Any, positions: Sequence[SkyPosition], radius_arcsec: float
    ) -> list[CrossMatch]:
        return [CrossMatch(self.service, MatchStatus.NO_MATCH, radius_arcsec) for _ in positions]


class _Pipeline:
    state = PipelineState.RUNNING

    def start(self) -> None: ...

    def pause(self) -> None: ...

    async def stop(self) -> None: ...


async def test_a_renamed_column_disables_that_catalog_loudly_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    changed = _Catalog("vizier", SchemaMismatchError("VizieR lacks expected column(s) RAJ2000"))
    down = _Catalog("ned", ConnectionError("Name or service not known"))
    fine = _Catalog("simbad", None)
    app = AstroLensApp(paths=app_paths(tmp_path / "home"))
    pool = ThreadPoolExecutor(max_workers=2)
    matcher = CatalogCrossMatcher([changed, down, fine], pool)
    app.__dict__["crossmatcher"] = matcher  # the cached property, as the app would build it
    monkeypatch.setattr(AgentRuntime, "_start_reembed", lambda self: None)  # not under test
    agent = AgentRuntime(app)
    try:
        with caplog.at_level(logging.WARNING):
            agent.start(_Pipeline())  # type: ignore[arg-type]
            agent.start(_Pipeline())  # type: ignore[arg-type]  # a resume: no second check
            for _ in range(200):
                if changed.checks and down.checks and fine.checks and not agent._scans:
                    break
                await asyncio.sleep(0.01)
        assert (changed.checks, down.checks, fine.checks) == (1, 1, 1)
        assert "catalog vizier disabled: schema mismatch: VizieR lacks" in caplog.text
        states = {s.service: s for s in matcher.schema_states()}
        assert not states["vizier"].enabled and "RAJ2000" in states["vizier"].describe()
        assert states["ned"].enabled and not states["ned"].checked  # down is not changed
        assert states["simbad"].describe() == "simbad: ok"

        vizier, ned, simbad = await matcher.crossmatch(HERE, 5.0)
        assert vizier.status is MatchStatus.ERROR and vizier.reason.startswith("disabled")
        assert changed.fetches == 0  # a disabled catalog is not asked
        assert ned.status is simbad.status is MatchStatus.NO_MATCH
    finally:
        await agent.shutdown()
        pool.shutdown()
