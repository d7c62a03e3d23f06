"""A user's target list: read from each table format, then pulled as cutouts from the local
stand-ins for the Legacy Survey viewer and SkyServer."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.table import Column, Table

from astrolens.domain.errors import ConfigurationError
from astrolens.domain.sky import SkyPosition
from astrolens.sources.legacy_survey import LegacySurveyConfig
from astrolens.sources.sdss import SdssConfig
from astrolens.sources.target_list import (
    TargetListConfig,
    TargetListSource,
    read_target_list,
)
from tests.sources.fake_clock import MemoryCursors
from tests.sources.fake_services import FakeServices

RATE = {"max_requests": 50, "period_s": 1.0, "timeout_s": 5.0}


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_with_names_sexagesimal_and_bad_rows(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "my galaxies.csv",
        "Name,RA,Dec,mag\n"
        "NGC 4414,186.612917,31.223528,10.1\n"
        "blank,,,12\n"
        "M51,13:29:52.7,+47:11:43,8.4\n"
        "pole,10.0,95.0,9\n"
        "noname-row,359.5,-0.5,11\n",
    )
    found = read_target_list(path)
    assert [t.name for t in found.targets] == ["NGC 4414", "M51", "noname-row"]
    m51 = found.targets[1].position
    assert m51.separation_arcsec(SkyPosition(202.469583, 47.195278)) < 0.1
    assert found.skipped == ("row 2: no readable RA/Dec", "row 4: declination out of range: 95.0")
    assert found.source_id.startswith("targets-my-galaxies-")


def test_votable_columns_found_by_ucd_and_names_optional(tmp_path: Path) -> None:
    table = Table()
    table["RAJ2000x"] = Column([10.5, 20.25], unit=u.deg, meta={"ucd": "pos.eq.ra;meta.main"})
    table["DEJ2000x"] = Column([-5.0, 41.0], unit=u.deg, meta={"ucd": "pos.eq.dec;meta.main"})
    path = tmp_path / "list.vot"
    table.write(path, format="votable")
    found = read_target_list(path)
    assert [t.position for t in found.targets] == [SkyPosition(10.5, -5.0), SkyPosition(20.25, 41)]
    assert [t.name for t in found.targets] == ["row 1", "row 2"]


def test_fits_table_in_radians_is_converted(tmp_path: Path) -> None:
    table = Table()
    table["objid"] = np.array([7, 8])
    table["ra"] = Column(np.radians([150.0, 10.0]), unit=u.rad)
    table["dec"] = Column(np.radians([2.0, -30.0]), unit=u.rad)
    path = tmp_path / "list.fits"
    table.write(path)
    found = read_target_list(path)
    assert found.targets[0].position.separation_arcsec(SkyPosition(150.0, 2.0)) < 1e-6
    assert [t.name for t in found.targets] == ["7", "8"]


def test_a_table_without_positions_is_a_clear_error(tmp_path: Path) -> None:
    path = _csv(tmp_path / "t.csv", "name,x,y\na,1,2\n")
    with pytest.raises(
        ConfigurationError, match=r"no RA/Dec columns found \(columns: name, x, y\)"
    ):
        read_target_list(path)
    with pytest.raises(ConfigurationError, match="not a table format"):
        read_target_list(_csv(tmp_path / "t.docx", "x"))
    with pytest.raises(ConfigurationError, match="no such file"):
        read_target_list(tmp_path / "missing.csv")
    with pytest.raises(ConfigurationError, match="not a readable votable table"):
        read_target_list(_csv(tmp_path / "t.vot", "<html>503</html>"))


@pytest.mark.parametrize("survey", ["legacy-survey", "sdss"])
async def test_the_list_becomes_cutouts_and_resumes(
    survey: str, fake_services: FakeServices, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path / "five.csv",
        "name,ra,dec\n"
        + "".join(f"gal{i},{150 + i * 0.01:.4f},{2.0 + i * 0.01:.4f}\n" for i in range(5)),
    )
    targets = read_target_list(path)
    config = TargetListConfig(
        targets=targets,
        survey=survey,
        legacy=LegacySurveyConfig(base_url=fake_services.base_url, **RATE),
        sdss=SdssConfig(base_url=fake_services.base_url, cutout_px=128, **RATE),
    )
    cursors = MemoryCursors()
    source = TargetListSource(config, cursors=cursors, cache_dir=tmp_path / "cache")
    first = await source.plan(3)
    assert [t.meta["target"] for t in first] == ["gal0", "gal1", "gal2"]
    for task in first:
        raw = await source.fetch(task)
        await source.mark_done(task)
        prov = raw.provenance
        assert prov.source_id == targets.source_id and prov.sky == task.sky
        assert prov.extra["target"] == task.meta["target"] and prov.extra["list"] == "five.csv"
        assert raw.data[:3] == b"\xff\xd8\xff"  # a JPEG cutout, as the survey serves it
        assert raw.name.startswith("gal") and raw.name.endswith(".jpg")
    await source.aclose()
    path_prefix = "/viewer/cutout.jpg" if survey == "legacy-survey" else "/dr18/SkyServerWS"
    asked = fake_services.requests_to(path_prefix)
    assert [(r.query["ra"][0], r.query["dec"][0]) for r in asked] == [
        ("150.000000", "2.000000"),
        ("150.010000", "2.010000"),
        ("150.020000", "2.020000"),
    ]
    if survey == "sdss":
        assert first[0].uri.startswith(f"{fake_services.base_url}/dr18/SkyServerWS/ImgCutout")
        assert asked[0].query["scale"] == ["0.396"]
    else:
        assert asked[0].query["layer"] == ["ls-dr10"]

    # a new run over the same list goes on from the fourth target
    again = TargetListSource(config, cursors=cursors, cache_dir=tmp_path / "cache")
    rest = await again.plan(10)
    assert [t.meta["target"] for t in rest] == ["gal3", "gal4"]
    assert again.status().message == "every target fetched"
    await again.aclose()
