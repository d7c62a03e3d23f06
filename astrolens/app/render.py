"""Terminal rendering for the CLI (rich): progress, ranked tables, candidate details."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from astrolens.domain.annotation import Annotation
from astrolens.domain.candidates import Candidate
from astrolens.domain.events import (
    CandidateFound,
    CatalogChecked,
    CycleFinished,
    CycleStarted,
    DuplicateSeen,
    Event,
    ImageQuarantined,
    ImageScored,
    PipelineStateChanged,
    SourceStatusChanged,
    Unusual,
)
from astrolens.domain.events import Progress as ProgressEvent
from astrolens.domain.records import QuarantineEntry
from astrolens.domain.settings import Settings
from astrolens.ui.links import SKY_VIEWERS

if TYPE_CHECKING:
    from rich.progress import Task

    from astrolens.app.context import AstroLensApp
    from astrolens.domain.ports import ScoreStore
    from astrolens.domain.scoring import Calibration
    from astrolens.pipeline.discovery import CycleReport
    from astrolens.sources.registry import SourceInfo


class _Rate(TextColumn):
    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: Task) -> Text:  # rich's column API
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} files/s" if speed else "   -- files/s", style="cyan")


@contextlib.contextmanager
def cycle_progress(console: Console) -> Iterator[Callable[[Event], None]]:
    """A progress bar (count, rate, ETA) driven by pipeline events; warnings print above it."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _Rate(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    task_id = progress.add_task("scanning", total=None)

    def on_event(event: Event) -> None:
        if isinstance(event, CycleStarted):
            progress.update(task_id, total=event.planned)
        elif isinstance(event, ProgressEvent):
            progress.update(task_id, completed=event.done, total=event.total)
        elif isinstance(event, ImageQuarantined):
            progress.console.print(f"[yellow]skipped[/] {event.uri}: {event.reason}")

    with progress:
        yield on_event


def event_line(event: Event) -> str:
    match event:
        case CycleStarted(cycle=cycle, planned=planned):
            return f"cycle {cycle}: {planned} new items planned"
        case CycleFinished() as e:
            line = (
                f"cycle {e.cycle} done in {e.seconds:.1f} s: {e.ingested} stored, "
                f"{e.duplicates} duplicates, {e.quarantined} quarantined, "
                f"{e.anomalies} anomalies, {e.near_misses} near-misses"
            )
            return line + most_unusual_lines(e.most_unusual, e.significance)
        case CandidateFound(candidate=c):
            return f"[bold red]candidate[/] #{c.id} {c.result.verdict.value}: {c.result.explain()}"
        case CatalogChecked(image_id=i, verdict=v):
            return f"catalogs for #{i}: {v.value}"
        case ImageQuarantined(uri=uri, reason=reason):
            return f"[yellow]quarantined[/] {uri}: {reason}"
        case DuplicateSeen(image_id=i, uri=uri):
            return f"duplicate of #{i}: {uri}"
        case SourceStatusChanged(status=s):
            return f"source {s.source_id}: {s.describe()}"
        case PipelineStateChanged(state=state, message=message):
            return f"pipeline {state.value}" + (f": {message}" if message else "")
        case ImageScored():
            return ""
    return repr(event)


def most_unusual_lines(found: Sequence[Unusual], significance: str) -> str:
    """A first run's answer when nothing is significant yet: what to look at, and why it is
    not called an anomaly (empty when there is nothing to say)."""
    if not found:
        return ""
    rows = "".join(
        f"\n  #{u.image_id} {u.name} (score {u.score:.2f}, p = {u.p_value:.2g})" for u in found
    )
    return f"\nMost unusual so far, not yet significant (queued for review):{rows}\n{significance}"


def _position(c: Candidate) -> str:
    sky = c.image.provenance.sky
    return f"{sky.ra_deg:9.4f} {sky.dec_deg:+8.4f}" if sky else "—"


def candidates_table(console: Console, rows: list[Candidate], title: str = "Candidates") -> None:
    table = Table(title=title, header_style="bold")
    for col in (
        "id",
        "verdict",
        "score",
        "p-value",
        "source",
        "RA Dec",
        "catalogs",
        "label",
        "file",
    ):
        table.add_column(col, overflow="fold")
    for c in rows:
        table.add_row(
            str(c.id),
            c.result.verdict.value,
            f"{c.result.score:.3f}",
            f"{c.result.p_value:.3g}",
            c.image.provenance.source_id,
            _position(c),
            c.catalog_verdict.value,
            c.label.value.value if c.label else "",
            c.image.display_name,
        )
    console.print(table)


MAX_KIND_NOTES = 4


def scan_report(console: Console, report: CycleReport, app: AstroLensApp, *, top: int = 25) -> None:
    scored = [(s.record, s.result) for s in report.scored if s.result is not None]
    # The most unusual first, whatever their verdict: a first scan of a small or mixed folder
    # may have too small a reference for any p-value to pass the FDR test, and the ranking is
    # still what the user came for.
    flagged = sorted(scored, key=lambda s: s[1].score, reverse=True)
    title = f"Most unusual images (top {top} by score)"
    if not report.anomalies:
        title = f"Most unusual so far, not yet significant (top {top} by score)"
    table = Table(title=title, header_style="bold")
    for col in ("rank", "id", "verdict", "score", "p-value", "file"):
        table.add_column(col, overflow="fold")
    for rank, (record, result) in enumerate(flagged[:top], 1):
        name = record.display_name
        table.add_row(
            str(rank),
            str(record.id),
            result.verdict.value,
            f"{result.score:.3f}",
            f"{result.p_value:.3g}",
            name,
        )
    if flagged:
        console.print(table)
    new_kinds = sorted(getattr(report, "new_kinds", ()), key=lambda n: -n.batch)
    for note in new_kinds[:MAX_KIND_NOTES]:
        console.print(f"[bold]Note:[/bold] {escape(note.message())}")
    if len(new_kinds) > MAX_KIND_NOTES:
        rest = new_kinds[MAX_KIND_NOTES:]
        console.print(
            f"[bold]Note:[/bold] {len(rest)} more new kinds of image "
            f"({sum(n.batch for n in rest)} images), each ranked within its batch"
        )
    console.print(
        f"Stored {report.ingested} new images ({report.duplicates} duplicates, "
        f"{report.quarantined} unreadable) in {report.seconds:.1f} s: "
        f"{report.anomalies} anomalies, {report.near_misses} near-misses. "
        f"Data: {app.paths.data_dir}"
    )
    if flagged and not report.anomalies:
        console.print(_significance(app))


def _significance(app: AstroLensApp) -> str:
    from astrolens.domain.images import ImageGroup
    from astrolens.domain.scoring import not_yet_significant

    model_id = app.embedder.model_id

    def latest(r: ScoreStore) -> list[Calibration]:
        return [c for g in ImageGroup if (c := r.latest_calibration(model_id, g)) is not None]

    cals = app.db(latest)
    reference = max((c.reference_size for c in cals), default=0)
    return not_yet_significant(reference, app.settings.effective_fdr) + (
        " They are queued for review in the window (Verification)."
    )


def candidate_dict(c: Candidate) -> dict[str, Any]:
    sky = c.image.provenance.sky
    return {
        "id": c.id,
        "verdict": c.result.verdict.value,
        "score": c.result.score,
        "p_value": c.result.p_value,
        "rank_score": c.rank_score,
        "explanation": c.result.explain(),
        "detector_scores": c.result.detector_scores,
        "thresholds": (
            {
                "anomaly_p": c.result.thresholds.anomaly_p,
                "near_miss_p": c.result.thresholds.near_miss_p,
            }
            if c.result.thresholds
            else None
        ),
        "calibration_version": c.result.calibration_version,
        "model_id": c.model_id,
        "source": c.image.provenance.source_id,
        "uri": c.image.provenance.uri,
        "parent_uri": c.image.parent_uri,
        "ra_deg": sky.ra_deg if sky else None,
        "dec_deg": sky.dec_deg if sky else None,
        "viewers": {name: build(sky) for name, build in SKY_VIEWERS} if sky else None,
        "image_path": c.image.image_path,
        "catalog_verdict": c.catalog_verdict.value,
        "crossmatches": [
            {
                "service": m.service,
                "status": m.status.value,
                "reason": m.reason,
                "objects": [
                    {
                        "name": o.name,
                        "type": o.object_type,
                        "separation_arcsec": o.separation_arcsec,
                    }
                    for o in m.objects
                ],
            }
            for m in c.crossmatches
        ],
        "label": c.label.value.value if c.label else None,
    }


def candidate_detail(console: Console, c: Candidate) -> None:
    d = candidate_dict(c)
    console.print(f"[bold]Candidate #{c.id}[/] — {d['verdict']}, score {c.result.score:.3f}")
    console.print(f"  {c.result.explain()}")
    if c.result.thresholds:
        t = c.result.thresholds
        console.print(
            f"  judged by calibration v{c.result.calibration_version}: anomaly p <= "
            f"{t.anomaly_p:.3g}, near-miss p <= {t.near_miss_p:.3g}"
        )
    console.print(f"  model: {c.model_id}")
    console.print(f"  source: {d['source']}  uri: {d['uri']}")
    if d["parent_uri"]:
        console.print(f"  stamp of: {d['parent_uri']}")
    sky = c.image.provenance.sky
    console.print(f"  position: {sky}" if sky else "  position: unknown (no WCS)")
    for name, url in (d["viewers"] or {}).items():
        console.print(f"    {name}: {url}", soft_wrap=True)  # whole, so it stays clickable
    console.print(f"  stored image: {d['image_path']}")
    if c.result.detector_scores:
        console.print(
            "  detectors: "
            + ", ".join(f"{k}={v:.3f}" for k, v in sorted(c.result.detector_scores.items()))
        )
    console.print(f"  catalogs: {d['catalog_verdict']}")
    for m in c.crossmatches:
        line = f"    {m.service}: {m.status.value}"
        if m.reason:
            line += f" ({m.reason})"
        for o in m.objects[:5]:
            line += f'\n      {o.name} [{o.object_type or "?"}] at {o.separation_arcsec:.1f}"'
        console.print(line)
    console.print(f"  label: {d['label'] or 'none'}")


def annotation_dict(a: Annotation) -> dict[str, Any]:
    return {
        "provider": a.provider,
        "model": a.model,
        "prompt_version": a.prompt_version,
        "created_at": a.created_at.isoformat(),
        "text": a.text,
    }


def annotations_text(console: Console, annotations: list[Annotation]) -> None:
    """What the LLM said, newest first, each with who said it and when."""
    if not annotations:
        console.print("  LLM annotation: none (`astrolens annotate ID`)")
        return
    for a in annotations:
        when = a.created_at.strftime("%Y-%m-%d %H:%M")
        console.print(
            f"  LLM annotation by {a.provider}/{a.model} (prompt v{a.prompt_version}, {when}):"
        )
        for line in a.text.splitlines():
            console.print(f"    {line}", markup=False, highlight=False)


def sources_table(
    console: Console,
    infos: Mapping[str, SourceInfo],
    settings: Settings,
    cursors: Mapping[str, str | None],
) -> None:
    table = Table(title="Sources", header_style="bold")
    for col in ("id", "title", "group", "network", "enabled", "cursor"):
        table.add_column(col, overflow="fold")
    for sid, info in sorted(infos.items()):
        cfg = settings.sources.get(sid)
        table.add_row(
            sid,
            info.title,
            info.group.value,
            "online" if info.online else "offline",
            "yes" if cfg and cfg.enabled else "no",
            cursors.get(sid) or "—",
        )
    console.print(table)


def quarantine_table(console: Console, rows: Sequence[QuarantineEntry]) -> None:
    if not rows:
        console.print("No quarantined files.")
        return
    table = Table(title="Quarantined files", header_style="bold")
    for col in ("file", "reason", "seen", "next"):
        table.add_column(col, overflow="fold")
    for row in rows:
        retry_at = getattr(row, "retry_at", None)
        # "bad file": read again only if it changes; otherwise when it is tried again (UTC).
        after = "bad file" if retry_at is None else f"retry after {retry_at:%Y-%m-%d %H:%M} UTC"
        table.add_row(str(row.uri), str(row.reason), str(getattr(row, "count", 1)), after)
    console.print(table)
