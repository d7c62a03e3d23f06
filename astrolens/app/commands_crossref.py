"""`astrolens crossref`: ask the catalogs about a candidate, the pending queue, or a position."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable

from astrolens.app.context import AppOptions, AstroLensApp
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CrossMatch, MatchStatus
from astrolens.domain.errors import ConfigurationError
from astrolens.domain.scoring import Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.pipeline.stages.crossmatch_notify import CrossMatchNotifyStage

EXIT_SERVICE_ERROR = 4


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_common: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = sub.add_parser(
        "crossref",
        help="cross-match candidates (or a position) with SIMBAD, NED, VizieR and OpenNGC",
    )
    add_common(p)
    p.add_argument("id", nargs="?", type=int, help="a candidate id")
    p.add_argument("--all-pending", action="store_true", help="every candidate still waiting")
    p.add_argument("--ra", type=float, metavar="DEG")
    p.add_argument("--dec", type=float, metavar="DEG")
    p.add_argument("--radius", type=float, default=10.0, metavar="ARCSEC")
    p.add_argument("--offline", action="store_true", help="only the bundled OpenNGC catalog")
    p.add_argument("--summary", action="store_true", help="counts by outcome and service")
    p.add_argument("--json", action="store_true")


def _exit_code(results: list[CrossMatch]) -> int:
    return EXIT_SERVICE_ERROR if any(r.status is MatchStatus.ERROR for r in results) else 0


def _print(args: argparse.Namespace, position: SkyPosition, results: list[CrossMatch]) -> None:
    from astrolens.catalogs.report import render_text
    from astrolens.domain.crossmatch import catalog_verdict

    if args.json:
        print(
            json.dumps(
                {
                    "ra_deg": position.ra_deg,
                    "dec_deg": position.dec_deg,
                    "verdict": catalog_verdict(results).value,
                    "results": [
                        {
                            "service": r.service,
                            "catalog": r.catalog,
                            "status": r.status.value,
                            "reason": r.reason,
                            "radius_arcsec": r.radius_arcsec,
                            "objects": [
                                {
                                    "name": o.name,
                                    "type": o.object_type,
                                    "sep_arcsec": o.separation_arcsec,
                                    "redshift": o.redshift,
                                }
                                for o in r.objects
                            ],
                        }
                        for r in results
                    ],
                },
                indent=2,
            )
        )
    else:
        print(render_text(position, results))


def crossref(args: argparse.Namespace) -> int:
    if args.ra is not None or args.dec is not None:
        if args.ra is None or args.dec is None:
            raise ConfigurationError("--ra and --dec go together")
        return _lookup(args)
    app = AstroLensApp(options=AppOptions(crossmatch=True, offline_catalogs=args.offline))
    try:
        if args.summary:
            return _summary(app, args)
        if args.all_pending:
            return _pending(app, args)
        if args.id is None:
            raise ConfigurationError("give a candidate id, --all-pending, --summary or --ra/--dec")
        candidate = app.db(lambda r: r.get_candidate(args.id))
        if candidate is None:
            raise ConfigurationError(f"no candidate with id {args.id}")
        results = asyncio.run(_check(_stage(app), candidate))
        assert candidate.image.provenance.sky is not None
        _print(args, candidate.image.provenance.sky, results)
        return _exit_code(results)
    finally:
        app.close()


def _lookup(args: argparse.Namespace) -> int:
    from astrolens.catalogs.report import lookup

    try:
        position = SkyPosition(args.ra, args.dec)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    results = lookup(position, args.radius, offline=args.offline)
    _print(args, position, results)
    return _exit_code(results)


def _stage(app: AstroLensApp) -> CrossMatchNotifyStage:
    """The pipeline's cross-match stage: the same radius and query, every catalog's answer
    saved in one transaction on the db thread (not blocking the loop). A command has no
    event listeners, so what the stage says is dropped."""
    assert app.crossmatcher is not None
    return CrossMatchNotifyStage(
        repository=app.db(lambda r: r),
        executors=app.executors,
        emit=lambda _event: None,
        crossmatcher=app.crossmatcher,
    )


async def _check(stage: CrossMatchNotifyStage, candidate: Candidate) -> list[CrossMatch]:
    if candidate.image.provenance.sky is None:
        raise ConfigurationError(
            f"candidate {candidate.id} has no sky position (no WCS): nothing to cross-match"
        )
    _, results = await stage.ask(candidate)
    return results


def _pending(app: AstroLensApp, args: argparse.Namespace) -> int:
    pending = app.db(
        lambda r: r.pending_crossmatches(10_000, verdicts=(Verdict.ANOMALY, Verdict.NEAR_MISS))
    )
    if not pending:
        print("No candidate is waiting for the catalogs.")
        return 0
    errors = 0

    async def check_all() -> None:
        # One event loop for the whole queue: a fresh asyncio.run per candidate was 23 % of
        # `--all-pending` from a warm cache.
        nonlocal errors
        stage = _stage(app)
        for candidate in pending:
            results = await _check(stage, candidate)
            errors += any(r.status is MatchStatus.ERROR for r in results)
            if not args.json:
                assert candidate.image.provenance.sky is not None
                print(f"#{candidate.id} ", end="")
                _print(args, candidate.image.provenance.sky, results)

    asyncio.run(check_all())
    print(f"checked {len(pending)} candidates; {errors} with a catalog error (retried later)")
    return EXIT_SERVICE_ERROR if errors else 0


def _summary(app: AstroLensApp, args: argparse.Namespace) -> int:
    from astrolens.catalogs.report import summarise

    candidates = app.db(
        lambda r: r.candidates(verdicts=(Verdict.ANOMALY, Verdict.NEAR_MISS), limit=1_000_000)
    )
    summary = summarise(c.crossmatches for c in candidates if c.crossmatches)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"candidates cross-matched: {summary['candidates']}")
    for key in ("verdicts", "by_status"):
        counts = summary[key]
        assert isinstance(counts, dict)
        print(f"{key.replace('_', ' ')}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    by_service = summary["by_service"]
    assert isinstance(by_service, dict)
    for service, counts in by_service.items():
        print(f"  {service}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0
