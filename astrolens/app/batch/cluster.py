"""Which Dask cluster a batch runs on: an existing scheduler, or a LocalCluster of this machine.

Local workers are processes with one thread each: decoding is Python (the GIL), and the model
then uses that worker's one core, so N workers use N cores without oversubscribing them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

# Every library below the model must stay on the worker's one core as well.
SINGLE_THREAD_ENV = {
    "ASTROLENS_ML_THREADS": "1",
    "ASTROLENS_TORCH_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def default_workers() -> int:
    from astrolens.ml.embedders.torch_runtime import usable_cores

    return usable_cores()


@contextlib.contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A connected `distributed.Client`; a LocalCluster it started is closed on exit."""
    from distributed import Client, LocalCluster

    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        # Dask logs every worker start and stop at INFO: `-v` shows them, a plain run does not.
        logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers or default_workers(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # The scheduler's HTTP server on a free port: the default 8787 clashes with any
            # other cluster on the machine (there is no dashboard anyway without bokeh).
            dashboard_address="127.0.0.1:0",
            env=SINGLE_THREAD_ENV,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
