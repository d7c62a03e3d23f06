"""Transport failures shared by both providers, turned into words a user can act on."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import httpx

from astrolens.domain.annotation import AnnotationError, AnnotationFailure


def transport_error(
    exc: httpx.TransportError, provider: str, url: str, timeout_s: float
) -> AnnotationError:
    if isinstance(exc, httpx.TimeoutException):
        return AnnotationError(
            AnnotationFailure.TIMEOUT,
            f"{provider} did not answer within {timeout_s:.0f} s ({url}); a large model on a CPU "
            "can be slow: try a smaller model or raise llm_timeout_s in settings",
        )
    hint = "start it with `ollama serve`" if provider == "ollama" else "check the base URL setting"
    return AnnotationError(
        AnnotationFailure.NOT_RUNNING,
        f"{provider} is not reachable at {url} ({type(exc).__name__}); {hint}",
    )


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def rate_limited(provider: str, retry_after: str | None, detail: str = "") -> AnnotationError:
    wait = retry_after_seconds(retry_after)
    when = f"retry in {wait:.0f} s" if wait is not None else "retry later"
    extra = f": {detail}" if detail else ""
    return AnnotationError(
        AnnotationFailure.RATE_LIMITED, f"{provider} rate limit reached{extra}; {when}", wait
    )
