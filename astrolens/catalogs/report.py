"""What the CLI calls: build the clients, look a position up, summarise, render as text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from astrolens.catalogs.matcher import BlockingCatalog, CatalogCrossMatcher
from astrolens.catalogs.ned import NedClient
from astrolens.catalogs.openngc import OpenNGCCatalog
from astrolens.catalogs.simbad import SimbadClient
from astrolens.catalogs.vizier import VizierClient
from astrolens.domain.catalog_conf import NED, SIMBAD, VIZIER
from astrolens.domain.crossmatch import CrossMatch, MatchStatus, catalog_verdict
from astrolens.domain.sky import SkyPosition


def default_clients(
    *,
    offline: bool = False,
    simbad_url: str = SIMBAD.url,
    ned_url: str = NED.url,
    vizier_url: str = VIZIER.url,
    vizier_catalogs: Sequence[str] = ("V/147",),
) -> list[BlockingCatalog]:
    """OpenNGC always; SIMBAD, NED and each VizieR catalog unless offline (timeouts: each
    service's CatalogConf)."""
    clients: list[BlockingCatalog] = [OpenNGCCatalog()]
    if not offline:
        clients.append(SimbadClient(simbad_url))
        clients.append(NedClient(ned_url))
        clients.extend(VizierClient(cat, vizier_url) for cat in vizier_catalogs)
    return clients


def lookup(
    position: SkyPosition,
    radius_arcsec: float,
    offline: bool = False,
    *,
    clients: Sequence[BlockingCatalog] | None = None,
) -> list[CrossMatch]:
    """Blocking ad-hoc lookup for `astrolens crossref --ra --dec`: what each catalog says."""
    import asyncio

    clients = list(clients) if clients is not None else default_clients(offline=offline)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="crossref") as pool:
        matcher = CatalogCrossMatcher(clients, pool)
        return asyncio.run(matcher.crossmatch(position, radius_arcsec))


def summarise(results: Iterable[Iterable[CrossMatch]]) -> dict[str, object]:
    """Counts by outcome and by service, for a batch of candidates (one list each).

    Shape: {"candidates": N, "verdicts": {verdict: n}, "by_service": {service: {status: n}},
    "by_status": {status: n}}.
    """
    verdicts: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    by_service: dict[str, Counter[str]] = {}
    n = 0
    for per_candidate in results:
        items = list(per_candidate)
        n += 1
        verdicts[catalog_verdict(items).value] += 1
        for m in items:
            by_status[m.status.value] += 1
            by_service.setdefault(m.service, Counter())[m.status.value] += 1
    return {
        "candidates": n,
        "verdicts": dict(verdicts),
        "by_status": dict(by_status),
        "by_service": {k: dict(v) for k, v in sorted(by_service.items())},
    }


def render_text(position: SkyPosition, results: Sequence[CrossMatch], max_objects: int = 5) -> str:
    lines = [f"{position}: {catalog_verdict(results).value.replace('_', ' ')}"]
    for m in results:
        label = m.service + (f" ({m.catalog})" if m.catalog else "")
        if m.status is MatchStatus.MATCH:
            lines.append(f'  {label}: {len(m.objects)} object(s) within {m.radius_arcsec:g}"')
            for o in m.objects[:max_objects]:
                extra = f", z={o.redshift:.4g}" if o.redshift is not None else ""
                lines.append(
                    f'    {o.name} [{o.object_type or "?"}] {o.separation_arcsec:.1f}"{extra}'
                )
            if len(m.objects) > max_objects:
                lines.append(f"    … {len(m.objects) - max_objects} more")
        elif m.status is MatchStatus.NO_MATCH:
            lines.append(f'  {label}: nothing within {m.radius_arcsec:g}"')
        else:
            lines.append(f"  {label}: {m.status.value.upper()}: {m.reason}")
    return "\n".join(lines)
