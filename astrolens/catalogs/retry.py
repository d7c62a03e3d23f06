"""When a failed cross-match is asked again: exponential backoff, a little jitter, a cap.

Pure: the caller passes the attempt count and the time; the store keeps both with the
pending row, so an offline laptop catches up (with the same schedule) after a restart.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from astrolens.domain.crossmatch import CrossMatch, MatchStatus

BASE_DELAY = timedelta(minutes=2)
MAX_DELAY = timedelta(hours=12)
# Failures that no retry soon will cure: the service changed (schema) or banned us.
_SLOW_KINDS = ("schema mismatch", "blacklisted", "disabled")


def retry_policy(
    result: CrossMatch,
    attempts: int,
    now: datetime,
    rng: random.Random | None = None,
) -> datetime | None:
    """The earliest time to ask again, or None when the result is final.

    `attempts` counts failures so far for this (candidate, service), including this one.
    PENDING is due now; MATCH and NO_MATCH are final.
    """
    if result.status in (MatchStatus.MATCH, MatchStatus.NO_MATCH):
        return None
    if result.status is MatchStatus.PENDING:
        return now
    attempts = max(1, attempts)
    base = BASE_DELAY
    if result.reason.startswith(_SLOW_KINDS):
        base = timedelta(hours=1)
    delay = min(MAX_DELAY, base * (2 ** (attempts - 1)))
    # Up to 10% jitter so a hundred candidates that failed together don't retry together.
    jitter = (rng or random).uniform(0.0, 0.1) * delay.total_seconds()
    return now + delay + timedelta(seconds=jitter)


def is_due(next_retry: datetime | None, now: datetime) -> bool:
    return next_retry is not None and next_retry <= now
