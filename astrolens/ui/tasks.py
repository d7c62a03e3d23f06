"""Run coroutines from Qt slots without losing them or their errors.

asyncio keeps only weak references to tasks, so a fire-and-forget task can be garbage
collected mid-flight; this module holds them until they finish and logs failures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    task = asyncio.ensure_future(coro)
    if name:
        task.set_name(name)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("UI task %s failed", task.get_name(), exc_info=exc)


def pending() -> list[asyncio.Task[Any]]:
    return [t for t in _running if not t.done()]


async def cancel_all(grace_s: float = 5.0) -> None:
    """Cancel the UI's own tasks and wait for them (at quit)."""
    tasks = pending()
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=grace_s)
