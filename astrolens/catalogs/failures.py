"""Turn every way a catalog service can fail into one line a person can read.

The whole layer rests on one rule: a failure is never "no match". Each client catches what
its library raises and hands it to `describe_failure`, which names the kind of failure
(timeout, HTTP status, blacklist page, schema mismatch, error inside the VOTable) so the UI
can show it and the retry policy can act on it.
"""

from __future__ import annotations

import socket


class CatalogServiceError(Exception):
    """Base for failures our own code detects (as opposed to what astroquery/pyvo raise)."""

    kind = "error"

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.kind}: {text}" if text else self.kind


class BlacklistedError(CatalogServiceError):
    """The service answered with its 'you sent too many requests' page instead of data."""

    kind = "blacklisted"


class HttpStatusError(CatalogServiceError):
    kind = "http error"

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status


class SchemaMismatchError(CatalogServiceError):
    """Expected columns are missing: the service changed its output (cf. SIMBAD's 2024 move
    to TAP with lower-case names). Reading this as 'no match' is the bug we exist to avoid."""

    kind = "schema mismatch"


class VOTableError(CatalogServiceError):
    """A syntactically valid VOTable that carries an error message (NED does this)."""

    kind = "votable error"


class NotAVOTableError(CatalogServiceError):
    kind = "not a votable"


class CatalogDisabledError(CatalogServiceError):
    kind = "disabled"


def describe_failure(exc: BaseException) -> str:
    """One line: '<kind>: <detail>'. Never empty, because CrossMatch(ERROR) needs a reason."""
    chain = _causes(exc)
    # Our own checks (HTTP hook, blacklist page) may surface wrapped by pyvo or astroquery.
    for e in chain:
        if isinstance(e, CatalogServiceError):
            return str(e)
    # Imported lazily: requests is only needed once something failed.
    import requests

    for e in chain:
        if isinstance(e, (requests.Timeout, socket.timeout, TimeoutError)):
            return f"timeout: {_short(e)}"
    for e in chain:
        if isinstance(e, requests.HTTPError) and e.response is not None:
            return f"http error: HTTP {e.response.status_code}"
        if isinstance(e, requests.ConnectionError):
            return f"connection failed: {_short(e)}"
    name = type(exc).__name__
    text = _short(exc)
    if name in {"DALQueryError", "RemoteServiceError"}:
        return f"votable error: {text}"
    if name in {"DALFormatError", "TableParseError", "E19", "ExpatError"}:
        # pyvo wraps HTTP failures in DALServiceError/DALFormatError; an HTML page (a
        # blacklist or maintenance page) lands here too.
        return f"unreadable answer: {text}"
    if name == "DALServiceError":
        code = getattr(exc, "code", None)
        if code:
            return f"http error: HTTP {code}: {text}"
        return f"service error: {text}"
    return f"{name}: {text}" if text else name


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
