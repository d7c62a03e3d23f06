"""Fitted ensembles on disk: the reference model a run loads instead of refitting.

One file per (model, scoring key): `<group>-<sha1(key, model_id)[:16]>.npz` (the key is the
group, or 'group|kind' for a look-alike kind), holding the arrays of `EnsembleScorer.to_state`
and, as JSON, its meta plus the stored calibration it belongs to (model id, key, version). A
file is used only for that exact calibration: a newer one (a refit, a recalibration) makes it
stale, and so does another model or other
scorer settings (FDR level, folds, detectors), which then refit as before. Writes go to a
temp file, fsynced, renamed over the old one, so a crash leaves the old state or the new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from astrolens.domain.ports import AnomalyScorer
from astrolens.domain.scoring import Calibration
from astrolens.fileio import atomic
from astrolens.ml.scoring.ensemble import EnsembleScorer

log = logging.getLogger(__name__)

_META_KEY = "__meta__"
# The settings that must match for a saved scorer to stand in for a fresh one.
_SETTINGS = ("alpha", "n_folds", "window", "near_miss_factor", "min_reference", "seed")


def _settings(scorer: EnsembleScorer) -> dict[str, Any]:
    names = [make().name for make in scorer.factories]
    return {**{k: getattr(scorer, k) for k in _SETTINGS}, "detectors": names}


class ScorerStateFiles:
    """Implements `astrolens.domain.ports.ScorerStore` for `EnsembleScorer`s."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, key: str, model_id: str) -> Path:
        digest = hashlib.sha1(f"{key}\n{model_id}".encode(), usedforsecurity=False).hexdigest()
        group = key.split("|", 1)[0]  # readable prefix; the kind may hold any character
        return self.root / f"{group}-{digest[:16]}.npz"

    def _meta(self, path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files if k != _META_KEY}
                meta = json.loads(bytes(data[_META_KEY]).decode())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("saved scorer %s is unreadable (%s); refitting", path, exc)
            return None
        return arrays, meta

    def saved_version(self, key: str, model_id: str) -> int | None:
        path = self.path_for(key, model_id)
        if not path.is_file():
            return None
        loaded = self._meta(path)
        if loaded is None:
            return None
        stored = loaded[1].get("stored", {})
        if stored.get("key") != key or stored.get("model_id") != model_id:
            return None
        version = stored.get("version")
        return version if isinstance(version, int) else None

    def save(self, key: str, scorer: AnomalyScorer, calibration: Calibration) -> None:
        if not isinstance(scorer, EnsembleScorer) or not scorer.fitted:
            return
        arrays, meta = scorer.to_state()
        meta = {
            **meta,
            "stored": {
                "model_id": calibration.model_id,
                "key": key,
                "version": calibration.version,
            },
            "settings": _settings(scorer),
        }
        final = self.path_for(key, calibration.model_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(final, mode=0o644) as temp, temp.open("wb") as handle:
            np.savez(handle, **arrays, **{_META_KEY: np.frombuffer(
                json.dumps(meta).encode(), dtype=np.uint8)})  # fmt: skip

    def load(self, key: str, calibration: Calibration, like: AnomalyScorer) -> AnomalyScorer | None:
        path = self.path_for(key, calibration.model_id)
        if not path.is_file() or not isinstance(like, EnsembleScorer):
            return None
        loaded = self._meta(path)
        if loaded is None:
            return None
        arrays, meta = loaded
        stored = meta.get("stored", {})
        wanted = {"model_id": calibration.model_id, "key": key}
        if {k: stored.get(k) for k in wanted} != wanted:
            return None
        if stored.get("version") != calibration.version or meta.get("settings") != _settings(like):
            return None  # stale: a newer calibration, or other scorer settings
        try:
            return EnsembleScorer.from_state(arrays, meta)
        except (KeyError, ValueError) as exc:
            log.warning("saved scorer %s does not load (%s); refitting", path, exc)
            return None
