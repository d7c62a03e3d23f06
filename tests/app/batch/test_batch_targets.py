"""A target catalog as batch input: cutouts through the polite Legacy Survey source (a local
stand-in replaying its URL scheme with real JPEGs), then scored on the cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from astrolens.app.batch.cluster import open_client
from astrolens.app.batch.run import prepare, run_partitions
from astrolens.app.batch.shards import read_rows
from astrolens.app.batch.targets import fetch_target_cutouts
from astrolens.app.context import AstroLensApp
from tests.sources.fake_services import Fault, online_configs, start_fake_services

TARGETS = [(150.1, 2.2), (150.2, 2.3), (210.8, 54.35), (35.5, -4.7)]


# Real models on a LocalCluster: minutes when the shared 2 cores are busy.
@pytest.mark.timeout(900)
def test_catalog_rows_become_fetched_cutouts_scored_with_their_position(
    tmp_path: Path, shared_data: Path, rings_reference: Path
) -> None:
    services, server = start_fake_services(shared_data)
    catalog = tmp_path / "targets.csv"
    catalog.write_text(
        "name,RA,Dec\n" + "".join(f"t{i},{r},{d}\n" for i, (r, d) in enumerate(TARGETS))
    )
    out = tmp_path / "result"
    config = online_configs(services)["legacy-survey"]
    services.inject("/viewer/cutout.jpg", Fault("html"))  # the service answers one with a page
    app = AstroLensApp()
    try:
        ref, parts = prepare(app, rings_reference, [catalog], out, 2, source_config=config)
        items = [item for part in parts for item in part.items]
        assert [(i.ra, i.dec) for i in items] == TARGETS
        failed = [i for i in items if i.error]
        assert len(failed) == 1 and "cutout fetch failed" in (failed[0].error or "")
        assert all(Path(i.uri).is_file() for i in items if not i.error)

        # Fetching again asks the service only for the cutout it does not have yet.
        before = len(services.requests_to("/viewer/cutout.jpg"))
        again = fetch_target_cutouts(app, catalog, out, config)
        assert len(services.requests_to("/viewer/cutout.jpg")) == before + 1
        assert all(not i.error for i in again)
    finally:
        app.close()
        server.shutdown()
        server.server_close()

    with open_client(workers=1) as client:
        summary = run_partitions(client, ref, parts, out)
    assert summary.rows == 4 and summary.errors == 1
    rows = read_rows(out).to_pylist()
    assert sorted((r["ra"], r["dec"]) for r in rows) == sorted(TARGETS)
    assert [r["verdict"] for r in rows if r["error"]] == ["error"]
    assert all(r["p_value"] is not None for r in rows if not r["error"])
