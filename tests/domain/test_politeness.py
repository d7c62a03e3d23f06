import random

import pytest

from astrolens.domain.politeness import BackoffPolicy, CircuitBreaker, SlidingWindowLimiter


def test_limiter_never_allows_more_than_max_calls_in_any_window() -> None:
    limiter = SlidingWindowLimiter(max_calls=5, period=1.0)
    starts = [0.0 + limiter.reserve(0.0) for _ in range(50)]
    for s in starts:
        in_window = [t for t in starts if s <= t < s + 1.0]
        assert len(in_window) <= 5
    # 50 calls at 5/s take just under 9 s after the first: the limiter does not over-wait.
    assert 8.9 < max(starts) < 9.1


def test_limiter_lets_calls_through_immediately_when_idle() -> None:
    limiter = SlidingWindowLimiter(max_calls=2, period=1.0)
    assert limiter.reserve(10.0) == 0.0
    assert limiter.reserve(10.5) == 0.0
    assert limiter.reserve(10.6) == pytest.approx(0.4, abs=1e-3)
    assert limiter.reserve(20.0) == 0.0


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = BackoffPolicy(base=1.0, cap=10.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 10.0), (20, 10.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert max(delays) <= ceiling
        assert max(delays) > 0.7 * ceiling  # full jitter spans the range


def test_retry_after_is_honoured() -> None:
    policy = BackoffPolicy(base=1.0, cap=2.0)
    assert policy.with_retry_after(1, 30.0, random.Random(0)) == 30.0


def test_circuit_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=60.0)
    for t in (0.0, 1.0):
        breaker.record_failure(t, "500")
        assert breaker.allow(t + 0.1)
    breaker.record_failure(2.0, "500")
    assert not breaker.allow(3.0)
    assert breaker.retry_at == 62.0
    assert breaker.allow(62.0)  # half-open: one probe
    breaker.record_failure(62.0, "still 500")
    assert breaker.retry_at == 62.0 + 120.0  # cooldown doubled
    breaker.record_success()
    assert breaker.allow(63.0) and breaker.failures == 0
