"""One BLAS thread while the ensemble fits and scores.

The scorer's matrices are small (hundreds to a few thousand rows): a multi-threaded OpenBLAS
spends more time waking and spinning its threads than computing, and in a scan it competes
with the decode threads and ONNX Runtime for the same two cores. Measured on the 2-core
target under load, the first scan's cross-fitted scoring of 400 images took 26 CPU-s with
OpenBLAS's default threads and 2.4 with one (same verdicts and p-values, scores equal to
1e-16). threadpoolctl switches the BLAS libraries numpy and scipy loaded (each has its own
pool), which no environment variable can do once they are imported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


def single_blas_thread(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper
