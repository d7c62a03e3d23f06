"""`astrolens batch` and `astrolens ingest`: survey-scale scoring on a Dask cluster.

The desktop agent stays one process; this is the scale-out path of DESIGN.md. The reference
model is fitted once (`reference.py`), shipped to Dask workers that decode, embed and score a
partition each and write one Parquet shard per partition (`worker.py`, `shards.py`); the client
plans, skips shards already written, and reports (`plan.py`, `run.py`); `ingest.py` merges the
shards into the store.

Dask and pyarrow are the optional extra ``astrolens[cluster]``: nothing here imports them at
module level, and `require_cluster_extra` names the install command when they are missing.
"""

from __future__ import annotations

import importlib.util

from astrolens.domain.errors import ConfigurationError

INSTALL_HINT = "pip install 'astrolens[cluster]'"


def require_cluster_extra() -> None:
    """Fail with one clear line (not an ImportError traceback) when the extra is missing."""
    missing = [
        name
        for name in ("dask", "distributed", "pyarrow")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise ConfigurationError(
            f"batch scoring needs {', '.join(missing)}, which the desktop install leaves out; "
            f"install them with: {INSTALL_HINT}"
        )
