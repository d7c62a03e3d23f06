"""What a notification says: every catalog verdict has its text (checked over the whole
enum), and a grouped notification names the truly strongest anomaly."""

from __future__ import annotations

import dataclasses

import pytest

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.images import ImageRecord
from astrolens.domain.scoring import Verdict
from astrolens.notify.desktop import catalog_line, group_text, single_text, strongest
from tests.store.builders import decoded, now, result


def _candidate(
    image_id: int, *, p: float, score: float, name: str, verdict: CatalogVerdict
) -> Candidate:
    image = decoded(image_id, uri=f"file:///data/demo/{name}", sky=None)
    record = ImageRecord(
        id=image_id,
        content_hash=image.content_hash,
        perceptual_hash=image.perceptual_hash,
        provenance=image.provenance,
        width=16,
        height=16,
        group=image.group,
        created_at=now(),
    )
    return Candidate(
        image=record,
        result=result(Verdict.ANOMALY, score=score, p_value=p),
        model_id="efficientnet-lite0",
        catalog_verdict=verdict,
    )


@pytest.mark.parametrize("verdict", list(CatalogVerdict))
def test_every_catalog_verdict_has_its_own_notification_text(verdict: CatalogVerdict) -> None:
    cand = _candidate(7, p=0.001, score=3.0, name="anomaly__M51.jpg", verdict=verdict)
    title, body = single_text(cand)
    assert title.startswith("Anomaly #7: anomaly__M51.jpg")
    assert catalog_line(verdict) in body and body.count("Catalogs:") == 1
    assert group_text([cand, dataclasses.replace(cand, image=cand.image)])[0]


def test_catalog_texts_are_distinct_over_the_whole_enum() -> None:
    lines = {catalog_line(v) for v in CatalogVerdict}
    assert len(lines) == len(CatalogVerdict)
    assert "no sky position" in catalog_line(CatalogVerdict.NO_POSITION)


def test_an_image_without_a_sky_position_gets_its_single_notification() -> None:
    """The crash seen: KeyError: CatalogVerdict.NO_POSITION for every JPEG without WCS."""
    cand = _candidate(
        3, p=0.002, score=2.0, name="anomaly__lens.jpg", verdict=CatalogVerdict.NO_POSITION
    )
    assert "not asked" in single_text(cand)[1]


def test_the_strongest_of_a_group_is_the_top_ranked_among_tied_p_values() -> None:
    """Conformal p-values tie (steps of 1/(n+1)): among equal p the higher score is named,
    not whichever came first (a "normal__" file was named as the strongest)."""
    tie = 1 / 141
    cands = [
        _candidate(1, p=tie, score=2.1, name="normal__J1.jpg", verdict=CatalogVerdict.PENDING),
        _candidate(2, p=tie, score=4.9, name="anomaly__M51.fits", verdict=CatalogVerdict.PENDING),
        _candidate(3, p=0.02, score=9.0, name="other.png", verdict=CatalogVerdict.PENDING),
    ]
    assert strongest(cands).id == 2
    title, body = group_text(cands, scanned="folder demo (355 new images)")
    assert title == "3 new anomalies in folder demo (355 new images)"
    assert body.startswith("Strongest: #2 anomaly__M51.fits")


def test_a_stamp_is_named_after_its_frame() -> None:
    cand = _candidate(
        9, p=0.001, score=5.0, name="M51.fits#x=10,y=20", verdict=CatalogVerdict.PENDING
    )
    image = dataclasses.replace(cand.image, parent_uri="file:///data/demo/M51.fits")
    assert single_text(dataclasses.replace(cand, image=image))[0] == "Anomaly #9: M51.fits (stamp)"
