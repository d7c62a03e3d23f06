"""One polite HTTP client per source: rate limit, concurrency cap, backoff, circuit breaker.

The rules themselves are the pure state machines of astrolens.domain.politeness; this module
only applies them to httpx and sleeps for the times they return, through an injectable Clock.

What counts as what:
- retried with backoff (full jitter, Retry-After honoured): timeouts, 429, 5xx, a connection
  reset, a body shorter than its Content-Length;
- offline (not retried; the source shows OFFLINE): connection refused, DNS failure;
- the task's own fault (UnreadableImageError, the service is fine): 404 and other 4xx except
  401/403/429;
- the service's fault (breaker failure): retries exhausted, 401/403, an HTML page or other
  non-image where an image was expected, a Retry-After longer than we are willing to wait.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from astrolens import __version__
from astrolens.domain.errors import SourceUnavailableError, UnreadableImageError
from astrolens.domain.politeness import BackoffPolicy, CircuitBreaker, SlidingWindowLimiter
from astrolens.domain.redaction import has_credentials, redact
from astrolens.domain.sources import SourceState
from astrolens.sources.http.cache import CachedResponse, DiskCache
from astrolens.sources.http.clock import Clock, SystemClock
from astrolens.sources.http.content import Expect, check_body
from astrolens.sources.http.retry_after import parse_retry_after

USER_AGENT = f"AstroLens/{__version__} (desktop anomaly finder; polite, rate-limited client)"


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """How hard one source may press on its service. Defaults suit a shared science archive."""

    max_requests: int = 1
    period_s: float = 1.0
    concurrency: int = 2
    timeout_s: float = 30.0
    backoff: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(2.0, 120.0, 4))
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 120.0
    breaker_max_cooldown_s: float = 3600.0
    # A server asking us to wait longer than this opens the breaker until then, instead of
    # holding a worker asleep for an hour.
    max_retry_after_s: float = 300.0


@dataclass(frozen=True, slots=True)
class Response:
    url: str
    status_code: int
    body: bytes
    content_type: str
    from_cache: bool = False


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


RequestHook = Callable[[float, str], None]


class PoliteTransport:
    """GETs for one source. Share one instance between all of that source's requests."""

    def __init__(
        self,
        source_id: str,
        policy: HttpPolicy | None = None,
        *,
        cache: DiskCache | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        client: httpx.AsyncClient | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        self.source_id = source_id
        self.policy = policy or HttpPolicy()
        self.cache = cache
        self.clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._limiter = SlidingWindowLimiter(self.policy.max_requests, self.policy.period_s)
        self._semaphore = asyncio.Semaphore(self.policy.concurrency)
        self.breaker = CircuitBreaker(
            self.policy.breaker_threshold,
            self.policy.breaker_cooldown_s,
            self.policy.breaker_max_cooldown_s,
        )
        self._client = client or httpx.AsyncClient(
            timeout=self.policy.timeout_s,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
        )
        self._owns_client = client is None
        self._on_request = on_request
        self._offline = False
        self._blocked_until: float | None = None  # a long Retry-After or an exhausted quota
        self._blocked_reason = ""
        self._in_flight = 0
        # A 429/503 with Retry-After pauses every request to that host, not only the one that
        # got it (27 other SDSS requests went out inside a 3 s wait before).
        self._host_paused_until: dict[str, float] = {}

    # -- state -------------------------------------------------------------------------------

    def state(self) -> tuple[SourceState, str, datetime | None]:
        """(state, message, retry_at as wall-clock time) for SourceStatus."""
        now = self.clock.monotonic()
        retry_mono: float | None = None
        reason = ""
        if self._blocked_until is not None and now < self._blocked_until:
            retry_mono, reason = self._blocked_until, self._blocked_reason
        elif self.breaker.is_open(now):
            retry_mono, reason = self.breaker.retry_at, self.breaker.last_reason
        retry_at = None
        if retry_mono is not None:
            retry_at = self.clock.now() + timedelta(seconds=retry_mono - now)
        if self._offline:
            return SourceState.OFFLINE, "network unreachable", retry_at
        if retry_at is not None:
            return SourceState.UNAVAILABLE, reason, retry_at
        return (SourceState.ACTIVE if self._in_flight else SourceState.IDLE), "", None

    def _refuse_if_blocked(self) -> None:
        state, reason, retry_at = self.state()
        if retry_at is not None:
            when = retry_at.astimezone().strftime("%H:%M")
            label = "offline" if state is SourceState.OFFLINE else "unavailable"
            raise SourceUnavailableError(
                f"{self.source_id} {label}, retrying at {when}" + (f" ({reason})" if reason else "")
            )

    def block_until(self, seconds_from_now: float, reason: str) -> None:
        """Refuse every request for a while (a quota is spent, a server asked us to wait)."""
        until = self.clock.monotonic() + max(0.0, seconds_from_now)
        if self._blocked_until is None or until > self._blocked_until:
            self._blocked_until = until
            self._blocked_reason = reason

    def _fail(self, reason: str) -> None:
        self.breaker.record_failure(self.clock.monotonic(), redact(reason))

    def pause_host(self, host: str, seconds: float) -> None:
        until = self.clock.monotonic() + max(0.0, seconds)
        if until > self._host_paused_until.get(host, 0.0):
            self._host_paused_until[host] = until

    async def _wait_for_host(self, host: str) -> None:
        while True:
            until = self._host_paused_until.get(host)
            now = self.clock.monotonic()
            if until is None or now >= until:
                return
            await self.clock.sleep(until - now)

    # -- requests ----------------------------------------------------------------------------

    @staticmethod
    def build_url(url: str, params: Mapping[str, Any] | None = None) -> str:
        """The full URL a GET with these params asks for: the identity of a cutout."""
        if not params:  # httpx would replace a query already in `url` with an empty one
            return str(httpx.URL(url))
        return str(httpx.URL(url).copy_merge_params(dict(params)))

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        expect: Expect,
        use_cache: bool = True,
        quotas: Sequence[SlidingWindowLimiter] = (),
    ) -> Response:
        """GET `url` politely and check the body is what `expect` says.

        Raises SourceUnavailableError (retry later, the source is offline or unavailable) or
        UnreadableImageError (this URL does not give what it should; move on).
        """
        full_url = self.build_url(url, params)
        # An authenticated answer is never cached: the key would sit in the cache on disk.
        use_cache = use_cache and not has_credentials(full_url)
        cached: CachedResponse | None = None
        if self.cache is not None and use_cache:
            cached = await asyncio.to_thread(self.cache.get, full_url)
        attempt = 0
        while True:
            attempt += 1
            self._refuse_if_blocked()
            try:
                return await self._attempt(full_url, cached, expect, quotas, use_cache)
            except _Retryable as exc:
                retry_after = exc.retry_after
                if retry_after is not None and retry_after > self.policy.max_retry_after_s:
                    self.block_until(retry_after, exc.reason)
                    self._fail(exc.reason)
                    self._refuse_if_blocked()
                if retry_after is not None:
                    self.pause_host(httpx.URL(full_url).host, retry_after)
                if attempt >= self.policy.backoff.max_attempts:
                    self._fail(exc.reason)
                    raise SourceUnavailableError(
                        redact(f"{self.source_id}: {exc.reason} (gave up after {attempt} attempts)")
                    ) from exc
                await self.clock.sleep(
                    self.policy.backoff.with_retry_after(attempt, retry_after, self._rng)
                )

    async def _wait_for_slot(self, quotas: Sequence[SlidingWindowLimiter]) -> None:
        for quota in quotas:
            wait = quota.reserve(self.clock.monotonic())
            if wait > self.policy.max_retry_after_s:
                self.block_until(wait, "request quota spent")
                self._refuse_if_blocked()
            await self.clock.sleep(wait)
        await self.clock.sleep(self._limiter.reserve(self.clock.monotonic()))

    async def _attempt(
        self,
        url: str,
        cached: CachedResponse | None,
        expect: Expect,
        quotas: Sequence[SlidingWindowLimiter],
        store: bool = True,
    ) -> Response:
        host = httpx.URL(url).host
        await self._wait_for_host(host)
        async with self._semaphore:
            await self._wait_for_host(host)  # a pause may have begun while we queued
            await self._wait_for_slot(quotas)
            self._in_flight += 1
            try:
                if self._on_request is not None:
                    self._on_request(self.clock.monotonic(), url)
                headers = cached.validators() if cached is not None else {}
                try:
                    reply = await self._client.get(url, headers=headers)
                except httpx.ConnectError as exc:
                    # Refused or no DNS: the network (or the host) is gone. Retrying at once
                    # cannot help; the breaker spaces out the next tries.
                    self._offline = True
                    self._fail(f"cannot connect: {exc}")
                    raise SourceUnavailableError(
                        f"{self.source_id} offline: cannot connect to {httpx.URL(url).host}"
                    ) from exc
                except httpx.TimeoutException as exc:
                    raise _Retryable(f"timed out ({type(exc).__name__})") from exc
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                    raise _Retryable(redact(f"connection broken: {exc}")) from exc
            finally:
                self._in_flight -= 1
        self._offline = False
        return await self._judge(url, reply, cached, expect, store)

    async def _judge(
        self,
        url: str,
        reply: httpx.Response,
        cached: CachedResponse | None,
        expect: Expect,
        store: bool = True,
    ) -> Response:
        shown = redact(url)  # what error messages and status lines may say
        status = reply.status_code
        ctype = reply.headers.get("content-type", "")
        if status == 304 and cached is not None:
            self.breaker.record_success()
            return Response(url, 200, cached.body, cached.content_type, from_cache=True)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(reply.headers.get("retry-after"), self.clock.now())
            raise _Retryable(f"HTTP {status}", retry_after)
        if status in (401, 403):
            self._fail(f"HTTP {status}: access refused")
            raise SourceUnavailableError(f"{self.source_id}: HTTP {status} from {shown}")
        if status >= 400:
            self.breaker.record_success()  # the service answered; this request was wrong
            raise UnreadableImageError(f"HTTP {status} from {shown}")
        body = reply.content
        declared = reply.headers.get("content-length")
        # With a Content-Encoding the length counts compressed bytes, so it cannot be compared.
        plain = "content-encoding" not in reply.headers
        if plain and declared is not None and declared.isdigit() and int(declared) != len(body):
            raise _Retryable(f"truncated body: {len(body)} of {declared} bytes")
        try:
            check_body(body, ctype, expect, shown)
        except UnreadableImageError as exc:
            self._fail(str(exc))
            raise
        self.breaker.record_success()
        if self.cache is not None and store:
            entry = CachedResponse(
                url, body, ctype, reply.headers.get("etag"), reply.headers.get("last-modified")
            )
            await asyncio.to_thread(self.cache.put, entry)
        return Response(url, status, body, ctype)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
