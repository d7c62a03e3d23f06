"""Candidates as an astropy Table: one row per candidate, units and UCDs on every column.

The table is what every export format and the SAMP `table.load.votable` message carry, so
TOPCAT, Aladin and a Jupyter notebook all see the same columns. A candidate without a sky
position keeps its row with NaN RA/Dec (a row count that matches the gallery), and a
candidate without a catalog match has an empty name and a NaN separation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import astropy.units as u
import numpy as np
from astropy.table import Column, Table

from astrolens import __version__
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import nearest_object

# name -> (description, ucd); units are set where the column is built.
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("AstroLens candidate id", "meta.id;meta.main"),
    "ra": ("Right ascension (ICRS)", "pos.eq.ra;meta.main"),
    "dec": ("Declination (ICRS)", "pos.eq.dec;meta.main"),
    "score": ("Ensemble anomaly score (higher is more anomalous)", "stat.value"),
    "p_value": ("Conformal p-value against the reference", "stat.probability"),
    "verdict": ("anomaly or near_miss", "meta.code.class"),
    "catalog_verdict": ("What the catalogs said about the position", "meta.code"),
    "match_name": ("Nearest catalogued object (empty: none)", "meta.id"),
    "match_type": ("Its object type", "src.class"),
    "match_sep": ("Its separation from the candidate", "pos.angDistance"),
    "match_service": ("The catalog that found it", "meta.ref"),
    "label": ("Your label: true_positive, false_positive, unsure, or empty", "meta.code"),
    "source": ("The AstroLens source the image came from", "meta.dataset"),
    "uri": ("Where the original image was fetched or read", "meta.ref.url"),
    "model_id": ("The embedding model that scored it", "meta.id"),
}
DETECTOR_PREFIX = "det_"
DETECTOR_UCD = "stat.value"


def detector_names(candidates: Sequence[Candidate]) -> list[str]:
    names: set[str] = set()
    for cand in candidates:
        names.update(cand.result.detector_scores)
    return sorted(names)


def _column(name: str, data: object, unit: u.UnitBase | None = None) -> Column:
    description, ucd = COLUMNS[name]
    return Column(data, name=name, unit=unit, description=description, meta={"ucd": ucd})


def _text(values: list[str]) -> np.ndarray:
    # Fixed-width unicode: an empty list still gets a string dtype (FITS needs one).
    width = max((len(v) for v in values), default=1) or 1
    return np.array(values, dtype=f"<U{width}")


def candidates_table(candidates: Sequence[Candidate]) -> Table:
    ras, decs, names, types, seps, services = [], [], [], [], [], []
    for cand in candidates:
        sky = cand.image.provenance.sky
        ras.append(sky.ra_deg if sky else math.nan)
        decs.append(sky.dec_deg if sky else math.nan)
        best = nearest_object(cand.crossmatches)
        names.append(best.name if best else "")
        types.append((best.object_type or "") if best else "")
        seps.append(best.separation_arcsec if best else math.nan)
        services.append(best.service if best else "")
    table = Table(
        meta={
            "description": "AstroLens anomaly candidates",
            "creator": f"AstroLens {__version__}",
        }
    )
    table.add_column(_column("id", np.array([c.id for c in candidates], dtype=np.int64)))
    table.add_column(_column("ra", np.array(ras, dtype=np.float64), u.deg))
    table.add_column(_column("dec", np.array(decs, dtype=np.float64), u.deg))
    table.add_column(_column("score", np.array([c.result.score for c in candidates], float)))
    table.add_column(_column("p_value", np.array([c.result.p_value for c in candidates], float)))
    table.add_column(_column("verdict", _text([c.result.verdict.value for c in candidates])))
    for det in detector_names(candidates):
        scores = [c.result.detector_scores.get(det, math.nan) for c in candidates]
        table.add_column(
            Column(
                np.array(scores, dtype=np.float64),
                name=f"{DETECTOR_PREFIX}{det}",
                description=f"Raw score of the {det} detector",
                meta={"ucd": DETECTOR_UCD},
            )
        )
    table.add_column(
        _column("catalog_verdict", _text([c.catalog_verdict.value for c in candidates]))
    )
    table.add_column(_column("match_name", _text(names)))
    table.add_column(_column("match_type", _text(types)))
    table.add_column(_column("match_sep", np.array(seps, dtype=np.float64), u.arcsec))
    table.add_column(_column("match_service", _text(services)))
    table.add_column(
        _column("label", _text([c.label.value.value if c.label else "" for c in candidates]))
    )
    table.add_column(_column("source", _text([c.image.provenance.source_id for c in candidates])))
    table.add_column(_column("uri", _text([c.image.provenance.uri for c in candidates])))
    table.add_column(_column("model_id", _text([c.model_id for c in candidates])))
    return table


def without_position(table: Table) -> int:
    return int(np.count_nonzero(~np.isfinite(np.asarray(table["ra"], dtype=float))))
