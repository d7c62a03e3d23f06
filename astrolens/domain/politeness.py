"""Rules for being a good citizen of shared services: rate limits, backoff, circuit breaking.

Pure state machines over an injected clock (seconds, monotonic). The async and threaded
wrappers in the adapters only sleep for the time these return, so tests can prove the rules
with timestamps instead of sleeps.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass


class SlidingWindowLimiter:
    """At most `max_calls` starts in any window of `period` seconds.

    `reserve(now)` books the next slot and returns how long the caller must wait before
    starting. Bookings are serialised by a lock, so threads and coroutines can share one
    limiter (SIMBAD counts requests from the whole client, not per thread).
    """

    def __init__(self, max_calls: int, period: float = 1.0) -> None:
        if max_calls < 1 or period <= 0:
            raise ValueError("need max_calls >= 1 and period > 0")
        self.max_calls = max_calls
        self.period = period
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        with self._lock:
            while self._starts and self._starts[0] <= now - self.period:
                self._starts.popleft()
            if len(self._starts) < self.max_calls:
                start = now
            else:
                # The slot frees when the oldest start in the window leaves it. A small
                # epsilon keeps "exactly period apart" from counting inside one window.
                start = max(now, self._starts[-self.max_calls] + self.period + 1e-6)
            self._starts.append(start)
            return start - now


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """How often one service may be asked: `max_calls` starts per `period` seconds."""

    max_calls: int
    period: float = 1.0
    # One request in flight at a time (the service counts the whole client, not a thread).
    serialised: bool = False
    # Shared with every AstroLens process of this user (the service counts per address).
    across_processes: bool = False


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Exponential backoff with full jitter (AWS architecture blog's 'full jitter')."""

    base: float = 1.0
    cap: float = 300.0
    max_attempts: int = 5

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `attempt` (1-based)."""
        ceiling = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        return (rng or random).uniform(0.0, ceiling)

    def with_retry_after(
        self, attempt: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float:
        """A server's Retry-After wins over our own guess, but never below it."""
        own = self.delay(attempt, rng)
        return max(own, retry_after) if retry_after is not None else own


class CircuitBreaker:
    """Closed -> open after `threshold` consecutive failures; half-open after `cooldown`.

    While open, `allow(now)` is False and `retry_at` says when to try again, so a dead service
    shows "unavailable, retrying at HH:MM" instead of being hammered. Each re-open doubles the
    cooldown up to `max_cooldown`.
    """

    def __init__(self, threshold: int = 5, cooldown: float = 60.0, max_cooldown: float = 3600.0):
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.failures = 0
        self.opened_at: float | None = None
        self.cooldown = cooldown
        self.last_reason = ""

    @property
    def retry_at(self) -> float | None:
        return None if self.opened_at is None else self.opened_at + self.cooldown

    def is_open(self, now: float) -> bool:
        return self.opened_at is not None and now < self.opened_at + self.cooldown

    def allow(self, now: float) -> bool:
        return not self.is_open(now)

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.cooldown = self.base_cooldown
        self.last_reason = ""

    def record_failure(self, now: float, reason: str = "") -> None:
        self.failures += 1
        self.last_reason = reason
        if self.opened_at is not None:
            # A failed half-open probe: open again for longer.
            self.cooldown = min(self.max_cooldown, self.cooldown * 2)
            self.opened_at = now
        elif self.failures >= self.threshold:
            self.opened_at = now
