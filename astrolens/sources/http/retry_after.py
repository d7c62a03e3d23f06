"""The Retry-After header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from `now`, or None when the header is absent or unreadable.

    A date in the past means "now" (0 s): the server has already stopped asking us to wait.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate gives naive for "-0000"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
