"""Per-service politeness for threads: a sliding-window rate limit, optionally serialised.

SIMBAD blacklists clients above ~5-6 queries/s and counts the whole client, so its gate
is shared by every executor thread and lets one request in flight at a time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from astrolens.catalogs.shared_rate import SharedWindow, default_rate_dir
from astrolens.domain.catalog_conf import REMOTE_CATALOGS
from astrolens.domain.politeness import RatePolicy, SlidingWindowLimiter

__all__ = ["DEFAULT_POLICIES", "RatePolicy", "ServiceGate"]

# Each service's policy and why: domain/catalog_conf.py.
DEFAULT_POLICIES = {service: conf.rate for service, conf in REMOTE_CATALOGS.items()}


class ServiceGate:
    def __init__(
        self,
        policy: RatePolicy,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        *,
        shared: SharedWindow | None = None,
    ) -> None:
        self.policy = policy
        self._limiter = SlidingWindowLimiter(policy.max_calls, policy.period)
        self._serial = threading.Lock() if policy.serialised else None
        self._clock = clock
        self._sleep = sleep
        self._shared = shared

    @classmethod
    def for_service(cls, service: str, policy: RatePolicy) -> ServiceGate:
        shared = None
        if policy.across_processes:
            path = default_rate_dir() / f"{service}.window"
            shared = SharedWindow(path, policy.max_calls, policy.period)
        return cls(policy, shared=shared)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Blocks until this caller may start a request; hold it for the request's length."""
        with self._serial if self._serial is not None else contextlib.nullcontext():
            wait = self._limiter.reserve(self._clock())
            if wait > 0:
                self._sleep(wait)
            if self._shared is None:
                yield
            else:
                with self._shared.slot(serialised=self.policy.serialised):
                    yield
