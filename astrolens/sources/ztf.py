"""ZTF: IRSA IBE science-image cutouts, and science/template/difference triplets from alerts.

Survey mode: a deterministic sequence of positions north of Dec -28; for each, one IBE
metadata search (`/ibe/search/ztf/products/sci?POS=ra,dec`, an IPAC table) lists the science
exposures covering it; the newest `images_per_position` become cutout tasks
(`.../sciimg.fits?center=ra,dec&size=Narcsec&gzip=false`). The cursor is [position, row].

Alert mode: URLs of Avro alert packets (`alert_urls`). Each packet's three stamps are one
observation: a RawImage whose data is the science stamp and whose companions hold the
template and the difference, group TRANSIENT.
"""

from __future__ import annotations

import gzip
import io
import itertools
from dataclasses import dataclass
from typing import Any, Unpack

from astrolens.domain.errors import SourceUnavailableError, UnreadableImageError
from astrolens.domain.images import ImageGroup, Provenance, RawImage
from astrolens.domain.sky import SkyPosition
from astrolens.domain.sources import FetchTask
from astrolens.sources.footprints import ZTF_BOXES, footprint_position
from astrolens.sources.http import Expect, PoliteTransport
from astrolens.sources.http.content import sniff_image
from astrolens.sources.online_base import (
    OnlineSource,
    PoliteConfig,
    Wiring,
    decode_position,
    encode_position,
)
from astrolens.sources.registry import SourceInfo, register

SOURCE_ID = "ztf"
NATIVE_SCALE = 1.012  # arcsec per pixel
FILTER_BANDS = {1: "zg", 2: "zr", 3: "zi"}


@dataclass(frozen=True, slots=True)
class ZtfConfig(PoliteConfig):
    enabled: bool = True
    base_url: str = "https://irsa.ipac.caltech.edu"
    cutout_arcsec: float = 64.0  # ~63 px, the size of an alert stamp
    images_per_position: int = 3
    alert_urls: tuple[str, ...] = ()  # Avro packets to read instead of the survey search
    seed: int = 0
    timeout_s: float = 60.0  # IBE cutouts are cut from full frames on the fly: slow
    max_requests: int = 1
    period_s: float = 1.0
    concurrency: int = 2


# -- request builders (pure) --------------------------------------------------------------------


def search_request(cfg: ZtfConfig, pos: SkyPosition) -> tuple[str, dict[str, str]]:
    url = f"{cfg.base_url.rstrip('/')}/ibe/search/ztf/products/sci"
    return url, {"POS": f"{pos.ra_deg:.6f},{pos.dec_deg:.6f}", "ct": "ipac_table"}


def science_image_path(row: dict[str, str]) -> str:
    """The IBE data path of a science image, from one metadata row (IRSA's ZTF layout)."""
    ffd = row["filefracday"]
    year, monthday, fracday = ffd[:4], ffd[4:8], ffd[8:]
    return (
        f"ibe/data/ztf/products/sci/{year}/{monthday}/{fracday}/"
        f"ztf_{ffd}_{int(row['field']):06d}_{row['filtercode']}_c{int(row['ccdid']):02d}_"
        f"{row['imgtypecode']}_q{row['qid']}_sciimg.fits"
    )


def cutout_request(
    cfg: ZtfConfig, row: dict[str, str], pos: SkyPosition
) -> tuple[str, dict[str, str]]:
    url = f"{cfg.base_url.rstrip('/')}/{science_image_path(row)}"
    params = {
        "center": f"{pos.ra_deg:.6f},{pos.dec_deg:.6f}",
        "size": f"{cfg.cutout_arcsec:g}arcsec",
        "gzip": "false",
    }
    return url, params


# -- parsers (pure) -----------------------------------------------------------------------------


def parse_ipac_table(text: str) -> list[dict[str, str]]:
    """Rows of an IPAC ASCII table as strings, keyed by column name.

    Keyword (`\\key = value`) and comment (`\\ text`) lines are skipped. The first `|` line
    names the columns and its bars fix the column boundaries; the next `|` lines (type, unit,
    null) are skipped. Values equal to the declared null (or "null") become "".
    """
    header_lines: list[str] = []
    rows: list[dict[str, str]] = []
    bars: list[int] = []
    names: list[str] = []
    nulls: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("\\"):
            continue
        if line.startswith("|"):
            header_lines.append(line)
            if len(header_lines) == 1:
                bars = [i for i, ch in enumerate(line) if ch == "|"]
                names = [line[a + 1 : b].strip() for a, b in itertools.pairwise(bars)]
            elif len(header_lines) == 4:
                nulls = _split_fixed(line, bars)
            continue
        if not names:
            raise UnreadableImageError("IPAC table without a column header")
        values = _split_fixed(line, bars)
        null_values = nulls or ["null"] * len(names)
        rows.append(
            {
                name: ("" if value in (null, "null") else value)
                for name, value, null in zip(names, values, null_values, strict=False)
            }
        )
    return rows


def _split_fixed(line: str, bars: list[int]) -> list[str]:
    # A value may sit under the closing bar of its column (IPAC allows it), so each column runs
    # from after its opening bar up to and including its closing bar's position.
    return [line[a + 1 : b + 1].strip().strip("|").strip() for a, b in itertools.pairwise(bars)]


@dataclass(frozen=True, slots=True)
class AlertTriplet:
    object_id: str
    candid: int
    sky: SkyPosition
    jd: float
    band: str
    magpsf: float | None
    real_bogus: float | None
    stamps: dict[str, tuple[str, bytes]]  # science/template/difference -> (file name, bytes)


def _unpack_stamp(cutout: dict[str, Any] | None, kind: str, candid: int) -> tuple[str, bytes]:
    if not cutout or not cutout.get("stampData"):
        raise UnreadableImageError(f"alert {candid} has no {kind} stamp")
    data: bytes = cutout["stampData"]
    if data[:2] == b"\x1f\x8b":  # ZTF ships FITS stamps gzipped
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise UnreadableImageError(f"alert {candid}: corrupt {kind} stamp") from exc
    fmt = sniff_image(data)
    if fmt not in ("fits", "jpeg", "png"):
        raise UnreadableImageError(f"alert {candid}: {kind} stamp is not FITS or JPEG")
    suffix = "jpg" if fmt == "jpeg" else fmt
    return f"{candid}_{kind}.{suffix}", data


def parse_alert_packets(data: bytes) -> list[AlertTriplet]:
    """Every alert in an Avro container (schemas 1.x prototypes to 4.x)."""
    import fastavro  # lazily: only alert users pay for it

    try:
        records = list(fastavro.reader(io.BytesIO(data)))
    except Exception as exc:  # fastavro raises several unrelated types on corrupt input
        raise UnreadableImageError(f"not a readable Avro alert packet: {exc}") from exc
    triplets = []
    for rec in records:
        cand = rec.get("candidate") or {}
        candid = int(rec.get("candid") or cand.get("candid"))
        stamps = {
            kind: _unpack_stamp(rec.get(f"cutout{kind.capitalize()}"), kind, candid)
            for kind in ("science", "template", "difference")
        }
        triplets.append(
            AlertTriplet(
                object_id=str(rec.get("objectId") or rec.get("alertId") or candid),
                candid=candid,
                sky=SkyPosition(float(cand["ra"]), float(cand["dec"])),
                jd=float(cand["jd"]),
                band=FILTER_BANDS.get(int(cand.get("fid") or 0), "unknown"),
                magpsf=cand.get("magpsf"),
                real_bogus=cand.get("rb"),
                stamps=stamps,
            )
        )
    return triplets


def triplet_raw_image(triplet: AlertTriplet, uri: str) -> RawImage:
    """One observation: the science stamp, with template and difference as companions."""
    name, science = triplet.stamps["science"]
    provenance = Provenance(
        source_id=SOURCE_ID,
        uri=uri if "#" in uri else f"{uri}#candid={triplet.candid}",
        survey="ZTF alert",
        bands=triplet.band,
        pixel_scale_arcsec=NATIVE_SCALE,
        sky=triplet.sky,
        extra={
            "object_id": triplet.object_id,
            "candid": triplet.candid,
            "jd": triplet.jd,
            "magpsf": triplet.magpsf,
            "rb": triplet.real_bogus,
            "stamp_names": {k: v[0] for k, v in triplet.stamps.items()},
        },
    )
    companions = {k: triplet.stamps[k][1] for k in ("template", "difference")}
    return RawImage(provenance, name, science, ImageGroup.TRANSIENT, companions)


# -- the source ---------------------------------------------------------------------------------


class ZtfSource(OnlineSource):
    def __init__(self, config: ZtfConfig | None = None, **wiring: Unpack[Wiring]) -> None:
        self.config = config or ZtfConfig()
        super().__init__(
            SOURCE_ID,
            ImageGroup.TRANSIENT if self.config.alert_urls else ImageGroup.SURVEY,
            self.config,
            **wiring,
        )
        self._rows: tuple[int, list[dict[str, str]]] | None = None

    def position(self, index: int) -> SkyPosition:
        return footprint_position(ZTF_BOXES, index, survey="ztf", seed=self.config.seed)

    async def _exposures(self, index: int) -> list[dict[str, str]]:
        url, params = search_request(self.config, self.position(index))
        reply = await self.transport.get(url, params=params, expect=Expect.TEXT)
        rows = [r for r in parse_ipac_table(reply.body.decode("utf-8", "replace")) if r]
        # Newest first, with a full tie-break, so the same answer always gives the same tasks.
        rows.sort(
            key=lambda r: (
                r.get("obsjd", ""),
                r.get("filefracday", ""),
                r.get("ccdid", ""),
                r.get("qid", ""),
            ),
            reverse=True,
        )
        return rows[: self.config.images_per_position]

    async def plan(self, limit: int) -> list[FetchTask]:
        if not self.enabled:
            return []
        if self.config.alert_urls:
            return await self._plan_alerts(limit)
        index, item = decode_position(await self.cursor.position(), [0, 0])
        tasks: list[FetchTask] = []
        while len(tasks) < limit:
            if self._rows is None or self._rows[0] != index:
                try:
                    self._rows = (index, await self._exposures(index))
                except UnreadableImageError:
                    self._rows = (index, [])  # a broken answer for this position: skip it
                except SourceUnavailableError:
                    break  # status() says why; the next plan() tries again from here
            rows = self._rows[1]
            if item >= len(rows):
                index, item = index + 1, 0
                self.cursor.advance(encode_position(index, item))
                continue
            row, pos = rows[item], self.position(index)
            url, params = cutout_request(self.config, row, pos)
            here = encode_position(index, item)
            item += 1
            self.cursor.planned(here, encode_position(index, item))
            meta = {
                "kind": "cutout",
                "band": row.get("filtercode", ""),
                "obsjd": row.get("obsjd", ""),
                "field": row.get("field", ""),
            }
            tasks.append(
                FetchTask(SOURCE_ID, PoliteTransport.build_url(url, params), here, pos, meta)
            )
        return tasks

    async def _plan_alerts(self, limit: int) -> list[FetchTask]:
        (index,) = decode_position(await self.cursor.position(), [0])
        tasks = []
        while len(tasks) < limit and index < len(self.config.alert_urls):
            here = encode_position(index)
            url = self.config.alert_urls[index]
            index += 1
            self.cursor.planned(here, encode_position(index))
            tasks.append(FetchTask(SOURCE_ID, url, here, None, {"kind": "alert"}))
        if index >= len(self.config.alert_urls):
            self._note = "every alert packet read"
        return tasks

    async def fetch(self, task: FetchTask) -> RawImage:
        alert = task.meta.get("kind") == "alert"
        with self._counting():  # a packet that does not parse counts as a failed fetch
            reply = await self.transport.get(
                task.uri, expect=Expect.AVRO if alert else Expect.IMAGE
            )
            if alert:
                # One packet per alert is the ZTF convention; a container with several is
                # rare, and its first alert stands for the task (its URI is the packet).
                return triplet_raw_image(parse_alert_packets(reply.body)[0], task.uri)
            return self._cutout_raw(task, reply.body, reply.from_cache)

    def _cutout_raw(self, task: FetchTask, body: bytes, from_cache: bool) -> RawImage:
        provenance = Provenance(
            source_id=SOURCE_ID,
            uri=task.uri,
            survey="ZTF",
            bands=task.meta.get("band") or None,
            pixel_scale_arcsec=NATIVE_SCALE,
            sky=task.sky,
            extra={
                "obsjd": task.meta.get("obsjd"),
                "field": task.meta.get("field"),
                "from_cache": from_cache,
            },
        )
        return RawImage(provenance, "ztf_sciimg_cutout.fits", body, ImageGroup.SURVEY)


register(
    SourceInfo(
        id=SOURCE_ID,
        title="ZTF",
        group=ImageGroup.SURVEY,
        online=True,
        factory=ZtfSource,
        description="Zwicky Transient Facility science-image cutouts (IRSA) and alert triplets",
    )
)
