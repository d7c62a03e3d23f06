"""The polite transport over real sockets, with politeness proven by fake-clock timestamps."""

from __future__ import annotations

import asyncio
import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from astrolens.domain.errors import SourceUnavailableError, UnreadableImageError
from astrolens.domain.politeness import BackoffPolicy
from astrolens.domain.sources import SourceState, SourceStatus
from astrolens.sources.http import DiskCache, Expect, HttpPolicy, PoliteTransport
from tests.sources.fake_clock import FakeClock
from tests.sources.fake_services import FakeServices, Fault

CUTOUT = "/dr18/SkyServerWS/ImgCutout/getjpeg"


def make(
    services: FakeServices | None = None,
    clock: FakeClock | None = None,
    cache_dir: Path | None = None,
    **policy: object,
) -> tuple[PoliteTransport, FakeClock, list[float]]:
    clock = clock or FakeClock()
    starts: list[float] = []
    settings = {"max_requests": 100, "period_s": 1.0, "timeout_s": 5.0} | policy
    transport = PoliteTransport(
        "test",
        HttpPolicy(**settings),  # type: ignore[arg-type]
        cache=DiskCache(cache_dir) if cache_dir else None,
        clock=clock,
        rng=random.Random(1),
        on_request=lambda t, url: starts.append(t),
    )
    return transport, clock, starts


def url(services: FakeServices, ra: float = 150.0) -> str:
    return f"{services.base_url}{CUTOUT}?ra={ra}&dec=2.0&scale=0.396&width=64&height=64"


async def test_rate_limit_spaces_request_starts(fake_services: FakeServices) -> None:
    transport, _, starts = make(max_requests=2, period_s=1.0)
    for i in range(6):
        await transport.get(url(fake_services, 150 + i), expect=Expect.IMAGE)
    await transport.aclose()
    # No window of one second holds more than two starts, and the limiter did not dawdle.
    assert all(starts[i + 2] - starts[i] >= 1.0 for i in range(len(starts) - 2))
    assert starts[-1] - starts[0] == pytest.approx(2.0, abs=0.01)


async def test_concurrency_cap_holds_on_the_server(fake_services: FakeServices) -> None:
    fake_services.inject(CUTOUT, Fault("slow", 0.3), times=6)
    transport = PoliteTransport("test", HttpPolicy(100, 1.0, concurrency=2, timeout_s=5.0))
    await asyncio.gather(
        *(transport.get(url(fake_services, 150 + i), expect=Expect.IMAGE) for i in range(6))
    )
    await transport.aclose()
    assert fake_services.max_active == 2


async def test_429_retry_after_seconds_is_honoured(fake_services: FakeServices) -> None:
    fake_services.inject(CUTOUT, Fault("429", seconds=7))
    transport, _clock, starts = make()
    reply = await transport.get(url(fake_services), expect=Expect.IMAGE)
    await transport.aclose()
    assert reply.body[:3] == b"\xff\xd8\xff"
    assert len(starts) == 2 and starts[1] - starts[0] >= 7.0
    assert [r.status for r in fake_services.requests_to(CUTOUT)] == [429, 200]


async def test_429_retry_after_http_date_is_honoured(fake_services: FakeServices) -> None:
    clock = FakeClock()
    when = format_datetime(clock.now() + timedelta(seconds=20), usegmt=True)
    fake_services.inject(CUTOUT, Fault("429", retry_after=when))
    transport, _, starts = make(clock=clock)
    await transport.get(url(fake_services), expect=Expect.IMAGE)
    await transport.aclose()
    assert starts[1] - starts[0] >= 19.0  # the date has one-second resolution


async def test_long_retry_after_marks_unavailable_without_sleeping(
    fake_services: FakeServices,
) -> None:
    fake_services.inject(CUTOUT, Fault("429", seconds=3600))
    transport, clock, _ = make(max_retry_after_s=300.0)
    with pytest.raises(SourceUnavailableError, match="retrying at"):
        await transport.get(url(fake_services), expect=Expect.IMAGE)
    state, _, retry_at = transport.state()
    assert state is SourceState.UNAVAILABLE
    assert retry_at == clock.now() + timedelta(seconds=3600)
    assert clock.sleeps == []
    # Refused locally until then: the server sees no second request.
    with pytest.raises(SourceUnavailableError):
        await transport.get(url(fake_services), expect=Expect.IMAGE)
    assert len(fake_services.requests_to(CUTOUT)) == 1
    await transport.aclose()


async def test_500_backs_off_exponentially_then_succeeds(fake_services: FakeServices) -> None:
    fake_services.inject(CUTOUT, Fault("500"), times=2)
    transport, clock, starts = make(backoff=BackoffPolicy(base=1.0, cap=60.0, max_attempts=4))
    await transport.get(url(fake_services), expect=Expect.IMAGE)
    await transport.aclose()
    assert len(starts) == 3
    # Full jitter: each delay lies in [0, base * 2**(attempt-1)].
    assert 0 <= clock.sleeps[0] <= 1.0 and 0 <= clock.sleeps[1] <= 2.0


async def test_breaker_opens_and_status_says_retrying_at(fake_services: FakeServices) -> None:
    fake_services.inject(CUTOUT, Fault("500"), times=100)
    transport, clock, _ = make(
        backoff=BackoffPolicy(base=0.5, cap=4.0, max_attempts=2),
        breaker_threshold=2,
        breaker_cooldown_s=600.0,
    )
    for _ in range(2):
        with pytest.raises(SourceUnavailableError, match="HTTP 500"):
            await transport.get(url(fake_services), expect=Expect.IMAGE)
    sent = len(fake_services.requests_to(CUTOUT))
    assert sent == 4
    with pytest.raises(SourceUnavailableError, match="unavailable, retrying at"):
        await transport.get(url(fake_services), expect=Expect.IMAGE)
    assert len(fake_services.requests_to(CUTOUT)) == sent  # the open breaker sent nothing
    state, message, retry_at = transport.state()
    status = SourceStatus("sdss", state, message, retry_at)
    assert status.state is SourceState.UNAVAILABLE
    assert status.describe().startswith(f"unavailable, retrying at {retry_at:%H:%M}")
    clock.t += 601  # after the cooldown one probe goes through
    with pytest.raises(SourceUnavailableError):
        await transport.get(url(fake_services), expect=Expect.IMAGE)
    assert len(fake_services.requests_to(CUTOUT)) > sent
    await transport.aclose()


async def test_html_page_instead_of_image_is_an_error(fake_services: FakeServices) -> None:
    fake_services.inject(CUTOUT, Fault("html"))
    transport, _, _ = make()
    with pytest.raises(UnreadableImageError, match="HTML page"):
        await transport.get(url(fake_services), expect=Expect.IMAGE)
    assert transport.breaker.failures == 1
    await transport.aclose()


@pytest.mark.parametrize("kind", ["truncate", "reset"])
async def test_truncated_or_reset_responses_are_retried(
    fake_services: FakeServices, kind: str
) -> None:
    fake_services.inject(CUTOUT, Fault(kind))
    transport, _, starts = make()
    reply = await transport.get(url(fake_services), expect=Expect.IMAGE)
    await transport.aclose()
    assert len(starts) == 2
    assert reply.body == fake_services.jpeg("150.0,2.0")  # whole, not the half sent first


async def test_slow_response_times_out_and_is_retried(fake_services: FakeServices) -> None:
    fake_services.inject(CUTOUT, Fault("slow", 1.0))
    transport, _, starts = make(timeout_s=0.25)
    reply = await transport.get(url(fake_services), expect=Expect.IMAGE)
    await transport.aclose()
    assert len(starts) == 2 and reply.status_code == 200


async def test_connection_refused_means_offline() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed on exit: nothing listens there
    transport, _, starts = make()
    with pytest.raises(SourceUnavailableError, match="offline"):
        await transport.get(f"http://127.0.0.1:{port}/x.jpg", expect=Expect.IMAGE)
    assert transport.state()[0] is SourceState.OFFLINE
    assert len(starts) == 1  # refused connections are not hammered
    await transport.aclose()


async def test_404_is_the_tasks_fault_not_the_services(fake_services: FakeServices) -> None:
    transport, _, _ = make()
    with pytest.raises(UnreadableImageError, match="HTTP 404"):
        await transport.get(f"{fake_services.base_url}/alerts/none.avro", expect=Expect.AVRO)
    assert transport.breaker.failures == 0
    await transport.aclose()


async def test_disk_cache_revalidates_with_etag(
    fake_services: FakeServices, tmp_path: Path
) -> None:
    transport, _, _ = make(cache_dir=tmp_path / "cache")
    first = await transport.get(url(fake_services), expect=Expect.IMAGE)
    second = await transport.get(url(fake_services), expect=Expect.IMAGE)
    await transport.aclose()
    log = fake_services.requests_to(CUTOUT)
    assert [r.status for r in log] == [200, 304]
    assert log[1].headers["if-none-match"].startswith('"')
    assert "if-modified-since" in log[1].headers
    assert not first.from_cache and second.from_cache and second.body == first.body
    assert not list((tmp_path / "cache").rglob(".tmp-*"))  # atomic writes leave no temp files


def test_retry_after_forms() -> None:
    from astrolens.sources.http import parse_retry_after

    now = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Sun, 10 Mar 2024 12:01:30 GMT", now) == 90.0
    assert parse_retry_after("Sun, 10 Mar 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
