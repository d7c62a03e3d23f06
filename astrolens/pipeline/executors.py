"""Named executors: the only places blocking work runs.

`db` has one thread because SQLite connections belong to the thread that opened them, and one
writer avoids lock contention. `ml` has one thread because torch/FAISS already use every core
and two concurrent forward passes only thrash. `io` has a few threads for file and catalog I/O.
`refit` has one thread for scheduled refits of the reference model, so a refit runs beside
the embedding instead of stopping it (the scorer keeps judging with the previous fit).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Executors:
    db: Executor
    ml: Executor
    io: Executor
    refit: Executor | None = None  # None: refits share the ml thread

    @classmethod
    def create(cls, io_threads: int = 4) -> Executors:
        return cls(
            db=ThreadPoolExecutor(1, thread_name_prefix="astrolens-db"),
            ml=ThreadPoolExecutor(1, thread_name_prefix="astrolens-ml"),
            io=ThreadPoolExecutor(io_threads, thread_name_prefix="astrolens-io"),
            refit=ThreadPoolExecutor(1, thread_name_prefix="astrolens-refit"),
        )

    def shutdown(self, wait: bool = True) -> None:
        for executor in (self.refit, self.io, self.ml, self.db):
            if executor is not None:
                executor.shutdown(wait=wait, cancel_futures=True)


async def run_in(executor: Executor, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Await `fn(*args, **kwargs)` on `executor`, keeping the caller's context variables."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(executor, call)
