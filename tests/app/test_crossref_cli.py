"""`astrolens crossref <id>` and `--all-pending` ask through the pipeline's cross-match stage:
the candidate's answers are stored (one transaction per candidate) and it leaves the queue."""

from __future__ import annotations

import json

import pytest

from astrolens.app.cli import main
from astrolens.app.context import AppOptions, AstroLensApp
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.scoring import Verdict
from astrolens.domain.sky import SkyPosition
from tests.store.builders import MODEL, decoded, embedding, result

M51 = SkyPosition(202.4696, 47.1952)
EMPTY_SKY = SkyPosition(10.0, -30.0)


def _store_candidates() -> list[int]:
    app = AstroLensApp(options=AppOptions())
    try:
        ids = []
        for seed, sky in ((1, M51), (2, EMPTY_SKY), (3, None)):
            image = decoded(seed, sky=sky, uri=f"file:///scan/{seed}.png")
            record = app.db(
                lambda r, im=image, s=seed: r.add_scored_image(
                    im, None, None, embedding(s), MODEL, result(Verdict.ANOMALY)
                )
            )
            ids.append(record.id)
        return ids
    finally:
        app.close()


def _stored(image_id: int):  # type: ignore[no-untyped-def]
    app = AstroLensApp(options=AppOptions())
    try:
        return app.db(lambda r: r.get_candidate(image_id)), app.db(
            lambda r: r.pending_crossmatches(10)
        )
    finally:
        app.close()


def test_crossref_of_a_candidate_stores_the_answers(capsys: pytest.CaptureFixture[str]) -> None:
    known, unknown, _unplaced = _store_candidates()
    assert main(["crossref", str(known), "--offline", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["verdict"] == "known_object"
    candidate, pending = _stored(known)
    assert candidate.catalog_verdict is CatalogVerdict.KNOWN_OBJECT
    assert [x.service for x in candidate.crossmatches] == [r["service"] for r in answer["results"]]
    assert [c.id for c in pending] == [unknown]  # the unplaced one is never pending

    assert main(["crossref", "--all-pending", "--offline"]) == 0
    assert "checked 1 candidates; 0 with a catalog error" in capsys.readouterr().out
    candidate, pending = _stored(unknown)
    assert candidate.catalog_verdict is CatalogVerdict.POSSIBLE_DISCOVERY and pending == []


def test_crossref_of_a_candidate_without_a_position_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    *_, unplaced = _store_candidates()
    assert main(["crossref", str(unplaced), "--offline"]) != 0
    assert "has no sky position (no WCS)" in capsys.readouterr().err
