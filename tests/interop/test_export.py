"""Every export format, read back with astropy (and regions) with warnings as errors."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from astrolens.domain.errors import ConfigurationError, StorageFullError
from astrolens.domain.toolbox import ExportFormat, format_for_path
from astrolens.interop.export import export_candidates
from tests.interop.candidates import sample

TABLE_FORMATS = [f for f in ExportFormat if not f.is_region]
# What each format keeps besides values: VOTable, FITS, ECSV and Parquet keep units and the
# UCDs (astropy serialises column meta); plain CSV keeps neither.
KEEPS_UNITS = {ExportFormat.VOTABLE, ExportFormat.FITS, ExportFormat.ECSV, ExportFormat.PARQUET}


def _read(path: Path) -> Table:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "opens in astropy without warnings"
        return Table.read(path)


def _floats(column: object) -> list[float]:
    # A reader may give a NaN back as NaN or as a masked value (VOTable's null): both mean
    # "no value", so compare as NaN.
    data = np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)
    return [float(x) for x in data]


@pytest.mark.parametrize("fmt", TABLE_FORMATS, ids=lambda f: f.value)
def test_table_formats_round_trip(fmt: ExportFormat, tmp_path: Path) -> None:
    cands = sample()
    path = tmp_path / f"candidates{fmt.suffix}"
    report = export_candidates(cands, fmt, path)
    assert report.rows == 4 and report.without_position == 1
    assert "1 without a sky position" in report.text()
    table = _read(path)
    assert len(table) == len(cands)
    assert list(table["id"]) == [1, 2, 3, 4]
    ra, dec = _floats(table["ra"]), _floats(table["dec"])
    assert ra[0] == pytest.approx(202.4696) and dec[3] == pytest.approx(-30.5)
    assert math.isnan(ra[2]) and math.isnan(dec[2])  # candidate 3 has no WCS
    assert list(table["verdict"]) == ["anomaly", "near_miss", "anomaly", "anomaly"]
    assert _floats(table["p_value"]) == [c.result.p_value for c in cands]
    # detectors a candidate lacks are NaN, the others keep their raw score
    assert _floats(table["det_knn"])[:3] == [1.5, 1.5, 0.7]
    assert math.isnan(_floats(table["det_knn"])[3])
    assert _floats(table["det_energy"])[3] == 4.0
    assert table["match_name"][0] == "M  51" and table["match_type"][0] == "Sy2"
    assert _floats(table["match_sep"])[0] == pytest.approx(2.3)
    assert math.isnan(_floats(table["match_sep"])[1])
    assert table["label"][0] == "true_positive"
    assert table["catalog_verdict"][2] == "no_position"
    assert table["source"][2] == "folder" and table["uri"][2] == "file:///tmp/x.png"
    assert set(table["model_id"]) == {"efficientnet-lite0"}
    if fmt in KEEPS_UNITS:
        assert table["ra"].unit == "deg" and table["dec"].unit == "deg"
        assert table["match_sep"].unit == "arcsec"
        assert table["ra"].info.meta["ucd"] == "pos.eq.ra;meta.main"
        assert table["dec"].info.meta["ucd"] == "pos.eq.dec;meta.main"
        assert table["match_sep"].info.meta["ucd"] == "pos.angDistance"


def test_votable_fields_carry_ucds_for_topcat(tmp_path: Path) -> None:
    from astropy.io.votable import parse

    path = tmp_path / "c.vot"
    export_candidates(sample(), ExportFormat.VOTABLE, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fields = {f.name: f for f in parse(path).get_first_table().fields}
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and str(fields["ra"].unit) == "deg"
    assert fields["dec"].ucd == "pos.eq.dec;meta.main"
    assert fields["p_value"].ucd == "stat.probability"
    assert fields["ra"].description == "Right ascension (ICRS)"


@pytest.mark.parametrize("fmt", [ExportFormat.DS9, ExportFormat.CRTF], ids=lambda f: f.value)
def test_region_files_mark_each_position(fmt: ExportFormat, tmp_path: Path) -> None:
    from regions import Regions

    path = tmp_path / f"c{fmt.suffix}"
    report = export_candidates(sample(), fmt, path)
    assert (report.rows, report.without_position) == (3, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        regions = Regions.read(path, format=fmt.value)
    assert len(regions) == 3
    centre = regions[0].center.icrs
    assert centre.ra.deg == pytest.approx(202.4696, abs=1e-5)
    assert centre.dec.deg == pytest.approx(47.1953, abs=1e-5)
    assert regions[0].radius.to_value("arcsec") == pytest.approx(5.0, rel=1e-3)
    if fmt is ExportFormat.DS9:
        assert regions[0].meta["text"] == "#1 anomaly"
        assert regions[1].visual["edgecolor"] == "yellow"


def test_empty_list_still_writes_a_readable_table(tmp_path: Path) -> None:
    path = tmp_path / "none.vot"
    assert export_candidates([], ExportFormat.VOTABLE, path).rows == 0
    assert len(_read(path)) == 0
    # nothing with a position: an empty region file, and the count says why
    report = export_candidates(sample()[2:3], ExportFormat.DS9, tmp_path / "none.reg")
    assert (report.rows, report.without_position) == (0, 1)


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path = out / "c.ecsv"
    export_candidates(sample(), ExportFormat.ECSV, path)
    before = path.read_bytes()

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Table, "write", disk_full)
    with pytest.raises(StorageFullError):  # a clear message, as the image store gives
        export_candidates(sample()[:1], ExportFormat.ECSV, path)
    assert path.read_bytes() == before
    assert [p.name for p in out.iterdir()] == ["c.ecsv"]  # no temp file left behind


def test_missing_folder_and_missing_pyarrow_are_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="no such folder"):
        export_candidates(sample(), ExportFormat.CSV, tmp_path / "nope" / "c.csv")
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: object, **kwargs: object) -> object:
        if name == "pyarrow":
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(ConfigurationError, match=r"astrolens\[parquet\]"):
        export_candidates(sample(), ExportFormat.PARQUET, tmp_path / "c.parquet")


def test_format_follows_the_file_name() -> None:
    assert format_for_path(Path("a.VOT")) is ExportFormat.VOTABLE
    assert format_for_path(Path("a.reg")) is ExportFormat.DS9
    assert format_for_path(Path("a.txt")) is None
