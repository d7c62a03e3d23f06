"""The `astrolens` command line.

Exit codes: 0 success, 1 unexpected failure, 2 usage or configuration error, 3 no readable
input, 4 a source or service unavailable, 5 disk full, 6 database from a newer AstroLens,
7 another AstroLens process is writing to this home, 130 interrupted.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from astrolens import __version__
from astrolens.domain.errors import AstroLensError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_DISK_FULL = 5
EXIT_INTERRUPTED = 130


def _add_common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    # A subcommand's copy must not reset what was given before the subcommand
    # (`astrolens --home X scan` used to drop X): only the top level sets defaults.
    parser.add_argument(
        "--home",
        type=Path,
        default=None if top else argparse.SUPPRESS,
        help="keep every file under this folder (default: $ASTROLENS_HOME or the platform dirs)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="more log output",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astrolens",
        description="Autonomous astronomical anomaly discovery. With no command, starts the "
        "tray agent.",
    )
    parser.add_argument("--version", action="version", version=f"astrolens {__version__}")
    _add_common(parser, top=True)
    parser.add_argument(
        "--headless", action="store_true", help="run the discovery loop without a window"
    )
    from astrolens.app.commands_api import add_api_flags, add_parsers

    add_api_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the discovery loop (tray agent, or --headless)")
    _add_common(run)
    run.add_argument("--headless", action="store_true", help="no window, no tray: log to stdout")
    run.add_argument("--interval", type=float, metavar="S", help="seconds between cycles")
    run.add_argument("--aggressive", action="store_true", help="looser FDR: more discoveries")
    run.add_argument("--calibrate", action="store_true", help="recalibrate thresholds now")
    run.add_argument("--once", action="store_true", help="run one cycle and exit")
    run.add_argument(
        "--source", action="append", dest="sources", metavar="ID", help="only these sources"
    )
    run.add_argument("--no-crossmatch", action="store_true", help="skip the catalogs")
    add_api_flags(run)

    scan = sub.add_parser("scan", help="one discovery cycle over files or folders")
    _add_common(scan)
    scan.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    scan.add_argument("--aggressive", action="store_true", help="looser FDR: more discoveries")
    scan.add_argument("--no-crossmatch", action="store_true", help="skip the catalogs")
    scan.add_argument(
        "--offline", action="store_true", help="cross-match with the offline catalog only"
    )
    scan.add_argument("--top", type=int, default=25, help="rows in the ranked table")

    score = sub.add_parser(
        "score", help="score query images against a reference folder (writes CSV)"
    )
    _add_common(score)
    score.add_argument("--reference", type=Path, required=True, metavar="REF_DIR")
    score.add_argument("--output", type=Path, metavar="CSV", help="default: standard output")
    score.add_argument("--aggressive", action="store_true", help="looser FDR")
    score.add_argument("--model", help="embedder spec (default: settings)")
    score.add_argument(
        "--thorough",
        action="store_true",
        help="add local evidence (PatchCore-mean on patch features): ~4x slower",
    )
    score.add_argument(
        "--morphology",
        action="store_true",
        help="add the morphology detector (for collections that mix surveys)",
    )
    score.add_argument("queries", nargs="+", type=Path, metavar="QUERY_PATH")

    cands = sub.add_parser("candidates", help="list anomalies and near-misses")
    _add_common(cands)
    cands.add_argument(
        "--verdict", choices=["anomaly", "near_miss", "all"], default="all", help="filter"
    )
    cands.add_argument("--limit", type=int, default=50)
    cands.add_argument(
        "--order",
        choices=["score", "rank"],
        default="score",
        help="score: most anomalous first; rank: what your labels say to review next",
    )
    cands.add_argument("--unlabelled", action="store_true", help="only those not labelled yet")
    cands.add_argument("--json", action="store_true", help="machine-readable output")

    show = sub.add_parser("show", help="everything known about one candidate")
    _add_common(show)
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")

    label = sub.add_parser("label", help="mark a candidate true/false positive")
    _add_common(label)
    label.add_argument("id", type=int)
    label.add_argument("value", choices=["tp", "fp", "unsure"])
    label.add_argument("--note", default="")

    sources = sub.add_parser("sources", help="every registered source and its state")
    _add_common(sources)

    quarantine = sub.add_parser("quarantine", help="files that could not be read, and why")
    _add_common(quarantine)

    from astrolens.app import commands_batch, commands_crossref

    commands_crossref.add_parser(sub, _add_common)
    commands_batch.add_parsers(sub, _add_common)

    # -- the local REST API and the LLM annotator: their own module
    add_parsers(sub, _add_common)
    from astrolens.app import commands_toolbox

    commands_toolbox.add_parsers(sub, _add_common)

    # -- the learning loop (train, runs): its own module
    from astrolens.app.commands_learning import add_learning_parsers

    add_learning_parsers(sub, _add_common)

    return parser


def install_log_redaction() -> None:
    """Every log record, from any logger (httpx logs whole request URLs), is redacted once,
    when it is made: no handler, file or console can see a key. Idempotent."""
    from astrolens.domain.redaction import redact

    factory = logging.getLogRecordFactory()
    if getattr(factory, "astrolens_redacts", False):
        return

    def redacting(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)  # type: ignore[arg-type]
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to logging's own error path
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    redacting.astrolens_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)


def _configure_logging(verbose: int) -> None:
    install_log_redaction()
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or (
        os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal")
    )


def _learning_handlers() -> dict[str, Callable[[argparse.Namespace], int]]:
    from astrolens.app import commands_learning

    return {"train": commands_learning.train, "runs": commands_learning.runs}


# Commands that write the store or query the catalogs: one such process per home at a time.
# `serve` takes labels and scans through the API, `annotate` stores answers, `ingest` and
# `targets` add images.
_WRITERS = frozenset(
    {"run", "scan", "label", "crossref", "train", "serve", "annotate", "ingest", "targets"}
)


def _takes_home_lock(args: argparse.Namespace) -> bool:
    if args.command == "crossref" and getattr(args, "summary", False):
        return False
    return args.command is None or args.command in _WRITERS


def _lock_home(args: argparse.Namespace, *, tray: bool) -> int | None:
    """Take the home's writer lock; None when held, else the exit code to return."""
    from astrolens.app.home_lock import HomeInUseError, acquire_home_lock
    from astrolens.settings.paths import app_paths

    data_dir = app_paths().data_dir
    described = "astrolens " + " ".join(sys.argv[1:]) if sys.argv[1:] else "astrolens (tray)"
    try:
        acquire_home_lock(data_dir, described, tray=tray)
    except HomeInUseError as exc:
        if tray and exc.holder is not None and exc.holder.tray and _show_running_window(data_dir):
            print("AstroLens is already running: its window was brought to the front.")
            return EXIT_OK
        raise exc
    return None


def _show_running_window(data_dir: Path) -> bool:
    """A second tray asks the first to show its window (it may still be starting up)."""
    from astrolens.app.single_instance import ask_running_instance, instance_name

    name = instance_name(data_dir)
    for _ in range(10):
        if ask_running_instance(name, "show") is not None:
            return True
        time.sleep(0.5)
    return False


def _toolbox_handlers() -> dict[str, Callable[[argparse.Namespace], int]]:
    from astrolens.app import commands_toolbox as t

    return {"export": t.export, "samp": t.samp, "cutout": t.cutout, "targets": t.targets}


def dispatch(args: argparse.Namespace) -> int:

    if args.home is not None:
        os.environ["ASTROLENS_HOME"] = str(args.home)
    desktop = args.command is None or (args.command == "run" and not args.headless)
    if desktop and not args.headless and not _has_display():
        print(
            "astrolens: no display found. Use `astrolens run --headless` to run the "
            "discovery loop without a window.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not _takes_home_lock(args):
        return _run_command(args, desktop)
    from astrolens.app.home_lock import held_locks, release_home_lock

    before = held_locks()
    refused = _lock_home(args, tray=desktop and not args.headless)
    if refused is not None:
        return refused
    try:
        return _run_command(args, desktop)
    finally:
        # The command is over: as the process's exit would, give the lock back (a script or
        # test that runs several commands in one process must not lock itself out).
        for lock_path in held_locks() - before:
            release_home_lock(lock_path.parent)


def _run_command(args: argparse.Namespace, desktop: bool) -> int:
    from astrolens.app import commands, commands_api, commands_batch, commands_crossref

    command = args.command
    if desktop:
        if args.headless:
            return commands.run_headless(args)
        from astrolens.app.desktop import run_desktop

        return run_desktop(args)
    handler = {
        "run": commands.run_headless,
        "scan": commands.scan,
        "score": commands.score,
        "candidates": commands.candidates,
        "show": commands.show,
        "label": commands.label,
        "sources": commands.sources,
        "quarantine": commands.quarantine,
        "crossref": commands_crossref.crossref,
        "serve": commands_api.serve,
        "api-token": commands_api.api_token,
        "annotate": commands_api.annotate,
        "batch": commands_batch.batch,
        "ingest": commands_batch.ingest,
        **_learning_handlers(),
        **_toolbox_handlers(),
    }[command]
    return handler(args)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words == ["--version"]:
        # Answered before the parser is built: building it imports the command modules
        # (numpy, the app context), 11x a bare interpreter for one line of output.
        print(f"astrolens {__version__}")
        raise SystemExit(EXIT_OK)  # as argparse's own --version action does
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        args.command = None
    _configure_logging(args.verbose)
    try:
        return dispatch(args)
    except AstroLensError as exc:
        print(f"astrolens: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("astrolens: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseExceptionGroup as group:
        # A pipeline stage failed inside its TaskGroup: report the user-facing cause.
        leaf = _first_astrolens_error(group)
        if leaf is None:
            raise
        print(f"astrolens: error: {leaf}", file=sys.stderr)
        return leaf.exit_code
    except OSError as exc:
        # Disk full and friends: one clear line, not a traceback.
        print(f"astrolens: error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return EXIT_DISK_FULL if exc.errno in (errno.ENOSPC, errno.EDQUOT) else EXIT_FAILURE


def _first_astrolens_error(group: BaseExceptionGroup[BaseException]) -> AstroLensError | None:
    for exc in group.exceptions:
        if isinstance(exc, AstroLensError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_astrolens_error(exc)
            if found is not None:
                return found
    return None


if __name__ == "__main__":
    sys.exit(main())
