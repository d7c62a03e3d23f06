"""CLI commands that reach the astronomer's other tools:

- `astrolens export`: candidates as VOTable, FITS, ECSV, CSV, Parquet, or DS9/CRTF regions;
- `astrolens samp status|send|hub`: TOPCAT, Aladin and DS9 over SAMP;
- `astrolens cutout ID`: a fresh Legacy Survey or SDSS cutout at a candidate's position;
- `astrolens targets FILE`: scan the positions of the user's own table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from astrolens.app.context import AppOptions, AstroLensApp
from astrolens.domain.candidates import Candidate
from astrolens.domain.errors import ConfigurationError
from astrolens.domain.records import CandidateFilter, CandidateOrder, LabelState
from astrolens.domain.scoring import Verdict
from astrolens.domain.toolbox import ExportFormat, format_for_path

if TYPE_CHECKING:
    from astrolens.interop.samp import SampLink

EXIT_NO_INPUT = 3
EXIT_UNAVAILABLE = 4
LABELLED_CHOICES = {
    "any": LabelState.ANY,
    "unlabelled": LabelState.UNLABELLED,
    "labelled": LabelState.LABELLED,
    "tp": LabelState.TRUE_POSITIVE,
    "fp": LabelState.FALSE_POSITIVE,
    "unsure": LabelState.UNSURE,
}
SURVEYS = ("legacy-survey", "sdss")


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--verdict", choices=["anomaly", "near_miss", "all"], default="all", help="filter"
    )
    p.add_argument(
        "--labelled",
        choices=sorted(LABELLED_CHOICES),
        default="any",
        help="by your label: any, unlabelled, labelled, tp, fp, unsure",
    )
    p.add_argument("--limit", type=int, default=100_000, help="at most this many rows")
    p.add_argument("--ids", type=int, nargs="+", metavar="ID", help="exactly these candidates")


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_common: Callable[[argparse.ArgumentParser], None],
) -> None:
    export = sub.add_parser(
        "export", help="write candidates as a table (TOPCAT, astropy) or a region file (DS9)"
    )
    add_common(export)
    _add_selection(export)
    export.add_argument(
        "--format",
        choices=[f.value for f in ExportFormat],
        help="default: from the file name (.vot .fits .ecsv .csv .parquet .reg .crtf)",
    )
    export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")

    samp = sub.add_parser("samp", help="send candidates to TOPCAT, Aladin or DS9 over SAMP")
    add_common(samp)
    samp_sub = samp.add_subparsers(dest="samp_command", metavar="ACTION", required=True)
    status = samp_sub.add_parser("status", help="is a hub running, and who is on it")
    add_common(status)
    hub = samp_sub.add_parser("hub", help="run a SAMP hub here until Ctrl-C")
    add_common(hub)
    send = samp_sub.add_parser("send", help="send a table, a position or an image")
    add_common(send)
    what = send.add_subparsers(dest="samp_what", metavar="WHAT", required=True)
    table = what.add_parser("table", help="the candidates as a VOTable (table.load.votable)")
    add_common(table)
    _add_selection(table)
    for name, text in (
        ("position", "point the tools at a candidate (coord.pointAt.sky)"),
        ("image", "a candidate's image as FITS, with its WCS (image.load.fits)"),
    ):
        one = what.add_parser(name, help=text)
        add_common(one)
        one.add_argument("id", type=int)

    cutout = sub.add_parser(
        "cutout", help="fetch a fresh Legacy Survey or SDSS cutout at a candidate's position"
    )
    add_common(cutout)
    cutout.add_argument("id", type=int)
    cutout.add_argument("--survey", choices=SURVEYS, default="legacy-survey")
    cutout.add_argument(
        "--fits", action="store_true", help="Legacy Survey: the calibrated grz cube (FITS)"
    )
    cutout.add_argument("-o", "--output", type=Path, metavar="FILE")
    cutout.add_argument("--base-url", metavar="URL", help="a mirror of the survey's service")

    targets = sub.add_parser(
        "targets",
        help="scan cutouts at the positions of your own table (CSV, VOTable, FITS, ECSV)",
    )
    add_common(targets)
    targets.add_argument("table", type=Path, metavar="FILE")
    targets.add_argument("--survey", choices=SURVEYS, default="legacy-survey")
    targets.add_argument("--limit", type=int, help="at most this many targets this run")
    targets.add_argument("--no-crossmatch", action="store_true", help="skip the catalogs")
    targets.add_argument("--top", type=int, default=25, help="rows in the ranked table")
    targets.add_argument("--base-url", metavar="URL", help="a mirror of the survey's service")


# ---------------------------------------------------------------------------------- selection


def _select(app: AstroLensApp, args: argparse.Namespace) -> list[Candidate]:
    from astrolens.services.toolbox import load_candidates, query_candidates

    if args.ids:
        found = load_candidates(app, args.ids)
        missing = sorted(set(args.ids) - {c.id for c in found})
        if missing:
            raise ConfigurationError(f"no candidate with id {', '.join(map(str, missing))}")
        return found
    verdicts = (
        (Verdict.ANOMALY, Verdict.NEAR_MISS) if args.verdict == "all" else (Verdict(args.verdict),)
    )
    flt = CandidateFilter(
        verdicts=verdicts, label_state=LABELLED_CHOICES[args.labelled], order=CandidateOrder.SCORE
    )
    return query_candidates(app, flt, args.limit)


def _one(app: AstroLensApp, image_id: int) -> Candidate:
    from astrolens.services.toolbox import load_candidates

    found = load_candidates(app, [image_id])
    if not found:
        raise ConfigurationError(f"no candidate with id {image_id} (see `astrolens candidates`)")
    return found[0]


# ---------------------------------------------------------------------------------- export


def export(args: argparse.Namespace) -> int:
    from astrolens.interop.export import export_candidates

    fmt = ExportFormat(args.format) if args.format else format_for_path(args.output)
    if fmt is None:
        raise ConfigurationError(
            f"cannot tell the format from {args.output.name}: add --format "
            f"({', '.join(f.value for f in ExportFormat)})"
        )
    app = AstroLensApp()
    try:
        found = _select(app, args)
    finally:
        app.close()
    report = export_candidates(found, fmt, args.output)
    print(report.text())
    return 0


# ---------------------------------------------------------------------------------- SAMP


def samp(args: argparse.Namespace) -> int:
    from astrolens.interop.samp import SampLink, SampUnavailableError

    if args.samp_command == "hub":
        return _run_hub()
    app = AstroLensApp()
    link = SampLink(app.paths.cache_dir / "samp", lambda _event: None)
    try:
        if args.samp_command == "status":
            try:
                print(link.connect().message)
            except SampUnavailableError as exc:
                print(f"astrolens: {exc}", file=sys.stderr)
                return EXIT_UNAVAILABLE
            return 0
        message = _send(app, link, args)
    finally:
        link.close(keep_files=True)
        app.close()
    print(message)
    return 0 if message.startswith("sent") else EXIT_UNAVAILABLE


def _send(app: AstroLensApp, link: SampLink, args: argparse.Namespace) -> str:
    from astrolens.interop.fits_image import write_candidate_fits

    if args.samp_what == "table":
        found = _select(app, args)
        link.connect()
        return str(link.send_table(found))
    cand = _one(app, args.id)
    if args.samp_what == "position":
        if cand.image.provenance.sky is None:
            raise ConfigurationError(f"candidate #{cand.id} has no sky position (no WCS)")
        link.connect()
        return str(link.point_at(cand.image.provenance.sky))
    link.connect()
    out = link.image_file(f"candidate-{cand.id}")
    with_wcs = write_candidate_fits(cand, out)
    message = str(link.send_image(out, f"AstroLens #{cand.id}"))
    return message if with_wcs else f"{message} (no WCS: the image is not placed on the sky)"


def _run_hub() -> int:
    import time

    from pyvo.samp import SAMPHubServer

    from astrolens.interop.samp import LOOPBACK

    hub = SAMPHubServer(web_profile=False, addr=LOOPBACK)
    hub.start(wait=False)
    url = hub.params.get("samp.hub.xmlrpc.url", "")
    print(f"SAMP hub running at {url}; TOPCAT, Aladin and DS9 can join. Ctrl-C stops it.")
    try:
        while hub.is_running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return 0


# ---------------------------------------------------------------------------------- cutout


def cutout(args: argparse.Namespace) -> int:
    from astrolens.services.toolbox import fetch_cutout

    app = AstroLensApp()
    try:
        cand = _one(app, args.id)
        path = asyncio.run(
            fetch_cutout(
                app, cand, args.survey, out=args.output, base_url=args.base_url, fits=args.fits
            )
        )
    finally:
        app.close()
    print(f"saved a fresh {args.survey} cutout of #{cand.id} to {path}")
    return 0


# ---------------------------------------------------------------------------------- targets


def targets(args: argparse.Namespace) -> int:
    from astrolens.app import render
    from astrolens.app.commands import _console, _run_one_cycle
    from astrolens.pipeline.discovery import PipelineConfig
    from astrolens.services.toolbox import target_list_source
    from astrolens.sources.target_list import read_target_list

    target_list = read_target_list(args.table)
    for line in target_list.skipped[:20]:
        print(f"skipped {line}", file=sys.stderr)
    if len(target_list.skipped) > 20:
        print(f"... and {len(target_list.skipped) - 20} more rows skipped", file=sys.stderr)
    if not target_list.targets:
        print(f"astrolens: error: {args.table.name} has no usable positions", file=sys.stderr)
        return EXIT_NO_INPUT
    console = _console()
    console.print(
        f"{len(target_list.targets)} targets from {args.table.name} "
        f"({len(target_list.skipped)} rows skipped); cutouts from {args.survey}"
    )
    app = AstroLensApp(options=AppOptions(crossmatch=False if args.no_crossmatch else None))
    try:
        source = target_list_source(app, target_list, args.survey, base_url=args.base_url)
        with render.cycle_progress(console) as on_event:
            per_run = args.limit if args.limit else len(target_list.targets)
            config = PipelineConfig(tasks_per_source=per_run, interval_s=app.settings.interval_s)
            pipeline = app.pipeline([source], events=on_event, config=config)
            report = asyncio.run(_run_one_cycle(pipeline))
        render.scan_report(console, report, app, top=args.top)
    finally:
        app.close()
    if report.unavailable:
        return EXIT_UNAVAILABLE
    return 0
