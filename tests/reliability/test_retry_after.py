"""Issue 16, item 10: a 429 with Retry-After pauses every request to that host, not only the
one that got it."""

from __future__ import annotations

import asyncio

from astrolens.sources.http import Expect, HttpPolicy, PoliteTransport
from tests.sources.fake_services import FakeServices, Fault

CUTOUT = "/dr18/SkyServerWS/ImgCutout/getjpeg"


async def test_a_429_pauses_the_whole_host(fake_services: FakeServices) -> None:
    fake_services.inject(CUTOUT, Fault("429", seconds=2))
    transport = PoliteTransport("sdss", HttpPolicy(100, 1.0, concurrency=4, timeout_s=5.0))
    urls = [
        f"{fake_services.base_url}{CUTOUT}?ra={150 + i}&dec=2.0&width=64&height=64"
        for i in range(8)
    ]
    first = asyncio.create_task(transport.get(urls[0], expect=Expect.IMAGE))
    for _ in range(500):  # until the server has seen the first request
        if fake_services.requests_to(CUTOUT):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # the 429 has been answered and read
    rest = [transport.get(u, expect=Expect.IMAGE) for u in urls[1:]]
    await asyncio.gather(first, *rest)
    await transport.aclose()

    log = fake_services.requests_to(CUTOUT)
    assert log[0].status == 429
    inside_the_wait = [r for r in log[1:] if r.at - log[0].at < 1.9]
    assert inside_the_wait == [], f"{len(inside_the_wait)} requests went out during Retry-After"
    assert len(log) == 9 and all(r.status == 200 for r in log[1:])
