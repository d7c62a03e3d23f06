"""Write candidates as VOTable, FITS, ECSV, CSV, Parquet (astropy's own writers) or as DS9 /
CRTF region files (the astropy-affiliated `regions` package). Blocking: call from an executor.

Every file is written next to its destination under a temporary name and renamed over it,
so a full disk or a crash never leaves a half-written export where the old one was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from astrolens.domain.candidates import Candidate
from astrolens.domain.errors import ConfigurationError
from astrolens.domain.scoring import Verdict
from astrolens.domain.toolbox import ExportFormat, ExportReport
from astrolens.fileio import atomic
from astrolens.interop.candidate_table import candidates_table, without_position

# astropy's format names for Table.write.
_ASTROPY_FORMAT = {
    ExportFormat.VOTABLE: "votable",
    ExportFormat.FITS: "fits",
    ExportFormat.ECSV: "ascii.ecsv",
    ExportFormat.CSV: "ascii.csv",
    ExportFormat.PARQUET: "parquet",
}
REGION_RADIUS_ARCSEC = 5.0
REGION_COLOUR = {Verdict.ANOMALY: "red", Verdict.NEAR_MISS: "yellow"}


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(temp)` then rename over `path`; the temp file keeps the suffix (writers look)."""
    path = path.expanduser()
    if not path.parent.is_dir():
        raise ConfigurationError(f"no such folder: {path.parent}")
    with atomic.replacing(path, suffix=path.suffix) as temp:
        write(temp)


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            "Parquet export needs pyarrow: pip install 'astrolens[parquet]' "
            "(or export as votable, fits, ecsv or csv)"
        ) from exc


def export_candidates(
    candidates: Sequence[Candidate], fmt: ExportFormat, path: Path
) -> ExportReport:
    if fmt.is_region:
        return _write_regions(candidates, fmt, path)
    if fmt is ExportFormat.PARQUET:
        _require_pyarrow()
    table = candidates_table(candidates)
    if fmt is ExportFormat.FITS:
        # FITS header keywords are 8 upper-case characters: the long meta names would become
        # HIERARCH cards (and a warning in every reader).
        table.meta = {"ORIGIN": table.meta["creator"], "EXTNAME": "CANDIDATES"}
    astropy_format = _ASTROPY_FORMAT[fmt]
    write_atomically(path, lambda temp: table.write(temp, format=astropy_format, overwrite=True))
    return ExportReport(path, fmt, len(table), without_position(table))


def _write_regions(candidates: Sequence[Candidate], fmt: ExportFormat, path: Path) -> ExportReport:
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion, Regions

    placed = [c for c in candidates if c.image.provenance.sky is not None]
    # One vectorised SkyCoord, then a view per region: building 20,000 SkyCoords one by one
    # cost more than writing them (benchmarks/export_formats.py).
    centres = SkyCoord(
        [c.image.provenance.sky.ra_deg for c in placed] * u.deg,  # type: ignore[union-attr]
        [c.image.provenance.sky.dec_deg for c in placed] * u.deg,  # type: ignore[union-attr]
        frame="icrs",
    )
    radius = REGION_RADIUS_ARCSEC * u.arcsec
    shapes = [
        CircleSkyRegion(
            center=centres[i],
            radius=radius,
            meta={"text": f"#{cand.id} {cand.result.verdict.value}"},
            visual={"color": REGION_COLOUR.get(cand.result.verdict, "green")},
        )
        for i, cand in enumerate(placed)
    ]
    regions = Regions(shapes)
    write_atomically(path, lambda temp: regions.write(str(temp), format=fmt.value, overwrite=True))
    return ExportReport(path, fmt, len(shapes), len(candidates) - len(shapes))
