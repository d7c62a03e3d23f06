"""The desktop agent's log file and crash reports: uncaught errors from any thread or the
event loop end in one crash-*.log file a user can attach to a bug report."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import logging.handlers
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)


def configure_file_logging(log_dir: Path, verbose: int = 0) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "astrolens.log"
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    return path


def install_crash_handler(log_dir: Path) -> None:
    """Uncaught errors (main thread, worker threads, the loop) go to crash-*.log in the log
    folder, so a user can attach one file to a bug report."""

    def write(kind: str, exc: BaseException | None, text: str) -> None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = log_dir / f"crash-{stamp}.log"
        with contextlib.suppress(OSError):
            path.write_text(f"AstroLens crash ({kind}) at {dt.datetime.now().isoformat()}\n{text}")
        log.critical("%s: %s (details in %s)", kind, exc, path)

    def excepthook(
        etype: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, value, tb)
            return
        write("uncaught exception", value, "".join(traceback.format_exception(etype, value, tb)))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        text = "".join(
            traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
        )
        write(f"thread {args.thread.name if args.thread else '?'}", args.exc_value, text)

    sys.excepthook = excepthook
    threading.excepthook = thread_hook


def loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    log.error("event loop: %s", context.get("message"), exc_info=exc)
