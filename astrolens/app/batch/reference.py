"""The reference model a batch ships to its workers: built once, versioned, saved with the shards.

It is what `astrolens score` fits (batch_score.fit_reference: same embedder, same ensemble,
same calibration), frozen as plain arrays + JSON (EnsembleScorer.to_state), so a worker
rebuilds the identical scorer without refitting, and a rerun of the same batch reuses it
instead of fitting a second, slightly different model. `reference_id` is a digest of the
fitted state: every shard row carries it, and ingest refuses to mix two.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from astrolens.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from astrolens.app.context import AstroLensApp
    from astrolens.ml.scoring.ensemble import EnsembleScorer

REFERENCE_FORMAT = 1
ARRAYS_FILE = "reference.npz"
META_FILE = "reference.json"


@dataclass(frozen=True)
class ReferenceModel:
    reference_id: str
    embedder_spec: str
    model_id: str
    calibration_version: int
    reference_size: int
    reference_dir: str
    models_dir: str
    search_dirs: tuple[str, ...]
    scorer_meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(repr=False)

    @property
    def detector_names(self) -> list[str]:
        return [str(d["name"]) for d in self.scorer_meta["detectors"]] or ["knn_transductive"]

    def scorer(self) -> EnsembleScorer:
        """A fresh scorer: its FDR window starts empty, so each partition is judged the same
        way whichever worker runs it and whatever ran there before."""
        from astrolens.ml.scoring.ensemble import EnsembleScorer

        return EnsembleScorer.from_state(self.arrays, self.scorer_meta)

    def describe(self) -> dict[str, Any]:
        return {
            "format": REFERENCE_FORMAT,
            "reference_id": self.reference_id,
            "embedder_spec": self.embedder_spec,
            "model_id": self.model_id,
            "calibration_version": self.calibration_version,
            "reference_size": self.reference_size,
            "reference_dir": self.reference_dir,
            "models_dir": self.models_dir,
            "search_dirs": list(self.search_dirs),
            "scorer": self.scorer_meta,
        }


def state_digest(model_id: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    """Same fitted state, same id. The fit's timestamp is left out: it is not the model."""
    digest = hashlib.sha256(model_id.encode())
    stable = json.loads(json.dumps(meta))
    stable.get("calibration", {}).pop("created_at", None)
    digest.update(json.dumps(stable, sort_keys=True).encode())
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(key.encode() + str(value.dtype).encode() + str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]


def build_reference(app: AstroLensApp, reference_dir: Path) -> ReferenceModel:
    """Embed and fit on this machine (once per batch), exactly as `astrolens score` does."""
    from astrolens.domain.resources import bundled_models_dir
    from astrolens.services.batch_score import fit_reference

    fitted = fit_reference(app, reference_dir)
    arrays, meta = fitted.scorer.to_state()
    model_id = app.embedder.model_id
    return ReferenceModel(
        reference_id=state_digest(model_id, arrays, meta),
        embedder_spec=app.settings.model,
        model_id=model_id,
        calibration_version=int(meta["calibration"]["version"]),
        reference_size=len(fitted.vectors),
        reference_dir=str(reference_dir.resolve()),
        models_dir=str(app.paths.models_dir),
        search_dirs=(str(bundled_models_dir()),),
        scorer_meta=meta,
        arrays=arrays,
    )


def save_reference(ref: ReferenceModel, folder: Path) -> None:
    """Arrays first, then the JSON that names them: a reader never sees JSON without arrays."""
    buffer = io.BytesIO()
    # allow_pickle is savez's default, named so the stubs know `arrays` cannot set it.
    np.savez(buffer, allow_pickle=True, **ref.arrays)
    _write_atomically(folder / ARRAYS_FILE, buffer.getvalue())
    _write_atomically(folder / META_FILE, json.dumps(ref.describe(), indent=2).encode())


def load_reference(folder: Path) -> ReferenceModel | None:
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != REFERENCE_FORMAT:
        raise ConfigurationError(f"{meta_path}: unknown reference format {meta.get('format')!r}")
    with np.load(folder / ARRAYS_FILE) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if state_digest(meta["model_id"], arrays, meta["scorer"]) != meta["reference_id"]:
        raise ConfigurationError(
            f"{folder}: the saved reference model does not match its id (damaged?); "
            "use a new --output folder"
        )
    return ReferenceModel(
        reference_id=meta["reference_id"],
        embedder_spec=meta["embedder_spec"],
        model_id=meta["model_id"],
        calibration_version=int(meta["calibration_version"]),
        reference_size=int(meta["reference_size"]),
        reference_dir=meta["reference_dir"],
        models_dir=meta["models_dir"],
        search_dirs=tuple(meta["search_dirs"]),
        scorer_meta=meta["scorer"],
        arrays=arrays,
    )


def _write_atomically(final: Path, data: bytes) -> None:
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, final)
