"""NASA Astronomy Picture of the Day, through api.nasa.gov.

One API call lists a whole range of days (`start_date`..`end_date`), so a month costs one
request of the key's quota; the pictures themselves come from apod.nasa.gov, which the key's
quota does not count. Videos (and other non-image media) are skipped. APOD pictures are not
survey cutouts: they go to the PICTURE group and are scored only against other pictures.

Without a personal key the shared DEMO_KEY applies, which api.nasa.gov limits to 30 requests
an hour and 50 a day per IP address; both limits are enforced here before asking. The cursor
is [next date to consider] (ISO), walking forward to today (in US Eastern time, APOD's own
calendar); then the source is idle, "up to date", until a new day begins.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Unpack
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from astrolens.domain.errors import SourceUnavailableError, UnreadableImageError
from astrolens.domain.images import ImageGroup, Provenance, RawImage
from astrolens.domain.politeness import SlidingWindowLimiter
from astrolens.domain.sources import FetchTask
from astrolens.sources.http import Expect
from astrolens.sources.online_base import (
    OnlineSource,
    PoliteConfig,
    Wiring,
    decode_position,
    encode_position,
)
from astrolens.sources.registry import SourceInfo, register

SOURCE_ID = "apod"
DEMO_KEY = "DEMO_KEY"
FIRST_DAY = date(1995, 6, 16)
_APOD_TZ = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class ApodConfig(PoliteConfig):
    enabled: bool = True
    base_url: str = "https://api.nasa.gov"
    start_date: date | None = None  # None: 30 days before the first run
    days_per_call: int = 30
    prefer_hd: bool = False  # hdurl pictures are often 4000+ px and several MB
    timeout_s: float = 30.0
    max_requests: int = 1
    period_s: float = 2.0
    concurrency: int = 2
    # api.nasa.gov limits: DEMO_KEY 30/hour and 50/day; a personal key 1000/hour.
    demo_per_hour: int = 30
    demo_per_day: int = 50
    key_per_hour: int = 1000


@dataclass(frozen=True, slots=True)
class ApodEntry:
    day: date
    title: str
    media_type: str
    url: str
    hdurl: str | None
    copyright: str | None
    explanation: str


def api_request(
    cfg: ApodConfig, api_key: str, start: date, end: date
) -> tuple[str, dict[str, str]]:
    url = f"{cfg.base_url.rstrip('/')}/planetary/apod"
    return url, {
        "api_key": api_key,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "thumbs": "false",
    }


def parse_apod_json(text: str) -> list[ApodEntry]:
    """The API's answer: one object (a single date) or a list (a range), sorted by date."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UnreadableImageError(f"APOD answer is not JSON: {exc}") from exc
    if isinstance(data, dict) and ("error" in data or ("code" in data and "msg" in data)):
        raise UnreadableImageError(f"APOD API error: {data}")
    items: list[dict[str, Any]] = data if isinstance(data, list) else [data]
    entries = []
    for item in items:
        try:
            entries.append(
                ApodEntry(
                    day=date.fromisoformat(item["date"]),
                    title=str(item.get("title", "")),
                    media_type=str(item.get("media_type", "")),
                    url=str(item.get("url", "")),
                    hdurl=item.get("hdurl"),
                    copyright=(item.get("copyright") or "").strip() or None,
                    explanation=str(item.get("explanation", "")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnreadableImageError(f"unexpected APOD entry {item!r}") from exc
    return sorted(entries, key=lambda e: e.day)


class ApodSource(OnlineSource):
    def __init__(
        self,
        config: ApodConfig | None = None,
        *,
        api_key: Callable[[], str | None] | None = None,
        **wiring: Unpack[Wiring],
    ) -> None:
        self.config = config or ApodConfig()
        super().__init__(SOURCE_ID, ImageGroup.PICTURE, self.config, **wiring)
        self._api_key = api_key or (lambda: None)
        cfg = self.config
        self._demo_quotas = (
            SlidingWindowLimiter(cfg.demo_per_hour, 3600.0),
            SlidingWindowLimiter(cfg.demo_per_day, 86400.0),
        )
        self._key_quotas = (SlidingWindowLimiter(cfg.key_per_hour, 3600.0),)
        self._queue: deque[ApodEntry] = deque()
        self.api_calls = 0

    def _key(self) -> str:
        try:
            key = self._api_key()
        except Exception:  # a locked or missing keyring must not stop the pictures
            key = None
        return key.strip() if key and key.strip() else DEMO_KEY

    def today(self) -> date:
        return self.transport.clock.now().astimezone(_APOD_TZ).date()

    async def _start(self) -> date:
        (text,) = decode_position(await self.cursor.position(), [""])
        if text:
            return date.fromisoformat(text)
        start = self.config.start_date or self.today() - timedelta(days=30)
        return max(start, FIRST_DAY)

    async def plan(self, limit: int) -> list[FetchTask]:
        if not self.enabled:
            return []
        next_day = await self._start()
        tasks: list[FetchTask] = []
        while len(tasks) < limit:
            if not self._queue:
                today = self.today()
                if next_day > today:
                    self._note = "up to date"
                    break
                end = min(today, next_day + timedelta(days=self.config.days_per_call - 1))
                try:
                    entries = await self._list(next_day, end)
                except (SourceUnavailableError, UnreadableImageError):
                    break
                self._queue.extend(e for e in entries if next_day <= e.day <= end)
                if not self._queue:  # a gap with no entries at all: move past it
                    next_day = end + timedelta(days=1)
                    self.cursor.advance(encode_position(next_day.isoformat()))
                continue
            entry = self._queue.popleft()
            here = encode_position(entry.day.isoformat())
            next_day = entry.day + timedelta(days=1)
            self.cursor.planned(here, encode_position(next_day.isoformat()))
            picture = (entry.hdurl if self.config.prefer_hd else None) or entry.url
            if entry.media_type != "image" or not picture:
                await self.cursor.done(here)  # videos are skipped, and never asked again
                continue
            meta = {
                "date": entry.day.isoformat(),
                "title": entry.title,
                "copyright": entry.copyright,
                "explanation": entry.explanation,
            }
            tasks.append(FetchTask(SOURCE_ID, picture, here, None, meta))
        return tasks

    async def _list(self, start: date, end: date) -> list[ApodEntry]:
        key = self._key()
        url, params = api_request(self.config, key, start, end)
        quotas = self._demo_quotas if key == DEMO_KEY else self._key_quotas
        self.api_calls += 1
        # Never cached: today's entry may be filled in later the same day.
        reply = await self.transport.get(
            url, params=params, expect=Expect.JSON, use_cache=False, quotas=quotas
        )
        return parse_apod_json(reply.body.decode("utf-8", "replace"))

    async def fetch(self, task: FetchTask) -> RawImage:
        with self._counting():
            reply = await self.transport.get(task.uri, expect=Expect.IMAGE)
        name = Path(urlsplit(task.uri).path).name or f"apod_{task.meta.get('date')}.jpg"
        provenance = Provenance(
            source_id=SOURCE_ID,
            uri=task.uri,
            survey="APOD",
            extra={**task.meta, "from_cache": reply.from_cache},
        )
        return RawImage(provenance, name, reply.body, ImageGroup.PICTURE)


register(
    SourceInfo(
        id=SOURCE_ID,
        title="NASA APOD",
        group=ImageGroup.PICTURE,
        online=True,
        factory=ApodSource,
        description="Astronomy Picture of the Day; scored only against other pictures",
    )
)
