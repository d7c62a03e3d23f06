"""The `astrolens` command line.

Exit codes: 0 success, 1 unexpected failure, 2 usage or configuration error, 3 no readable
input, 4 a source or service unavailable, 5 disk full, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from astrolens import __version__
from astrolens.domain.errors import AstroLensError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        type=Path,
        help="keep every file under this folder (default: $ASTROLENS_HOME or the platform dirs)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astrolens",
        description="Autonomous astronomical anomaly discovery. With no command, starts the "
        "tray agent.",
    )
    parser.add_argument("--version", action="version", version=f"astrolens {__version__}")
    _add_common(parser)
    parser.add_argument(
        "--headless", action="store_true", help="run the discovery loop without a window"
    )
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

    from astrolens.app import commands_crossref

    commands_crossref.add_parser(sub, _add_common)

    # -- the learning loop (train, runs): its own module
    from astrolens.app.commands_learning import add_learning_parsers

    add_learning_parsers(sub, _add_common)

    return parser


def _configure_logging(verbose: int) -> None:
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


def dispatch(args: argparse.Namespace) -> int:
    from astrolens.app import commands, commands_crossref

    if args.home is not None:
        os.environ["ASTROLENS_HOME"] = str(args.home)
    command = args.command
    if command is None or (command == "run" and not args.headless):
        if args.headless:
            return commands.run_headless(args)
        if not _has_display():
            print(
                "astrolens: no display found. Use `astrolens run --headless` to run the "
                "discovery loop without a window.",
                file=sys.stderr,
            )
            return EXIT_USAGE
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
        **_learning_handlers(),
    }[command]
    return handler(args)


def main(argv: list[str] | None = None) -> int:
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
    except OSError as exc:
        # Disk full and friends: one clear line, not a traceback.
        print(f"astrolens: error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
