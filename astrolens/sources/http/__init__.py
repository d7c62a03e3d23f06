"""Shared HTTP plumbing for the online sources: one polite transport per source."""

from astrolens.sources.http.cache import CachedResponse, DiskCache
from astrolens.sources.http.clock import Clock, SystemClock
from astrolens.sources.http.content import Expect, check_body
from astrolens.sources.http.retry_after import parse_retry_after
from astrolens.sources.http.transport import HttpPolicy, PoliteTransport, Response

__all__ = [
    "CachedResponse",
    "Clock",
    "DiskCache",
    "Expect",
    "HttpPolicy",
    "PoliteTransport",
    "Response",
    "SystemClock",
    "check_body",
    "parse_retry_after",
]
