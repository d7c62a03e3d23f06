"""Secrets out of every line a user or a log file can see: URLs, errors, status lines.

Two nets: query parameters whose names mean a credential (api_key=..., token=...) lose their
value wherever they appear in a text, and values registered as secrets (the NASA key read from
the keyring) are replaced wherever they appear at all, even outside a URL.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
_SECRET_PARAMS = re.compile(
    r"(?i)\b(api[_-]?key|apikey|key|access[_-]?token|token|auth|password|passwd|secret|"
    r"signature|sig)=([^&\s\"'<>#]+)"
)
_lock = threading.Lock()
_known: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so redact() hides it anywhere (short values are too common)."""
    if value and len(value) >= 6:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}={MASK}", text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return text


def has_credentials(url: str) -> bool:
    """Whether the URL carries a credential: such a response is never cached."""
    return bool(_SECRET_PARAMS.search(url)) or any(v in url for v in list(_known))
