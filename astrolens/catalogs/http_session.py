"""What every catalog client does to the `requests.Session` astroquery gives it.

- An explicit timeout on every request. astroquery's defaults are 60 s (NED, VizieR) and
  SIMBAD's TAP calls through pyvo pass none at all, so a hung network would hang a worker.
- A response hook that turns a 5xx/429 status and an HTML blacklist page into exceptions
  before astroquery or pyvo try to parse them: otherwise an HTML page can come back as an
  "empty result" or a confusing parse error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from astrolens.catalogs.failures import BlacklistedError, HttpStatusError, NotAVOTableError

_BLACKLIST = re.compile(rb"black[- ]?list|too many (requests|queries)|banned", re.IGNORECASE)


class _TimeoutAdapter(HTTPAdapter):
    """Applies our timeout where the caller gave none and caps a longer one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        given = kwargs.get("timeout")
        if given is None or (isinstance(given, (int, float)) and given > self._timeout):
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def _check_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    status = response.status_code
    if status >= 500 or status == 429:
        raise HttpStatusError(status, response.url)
    # None of these services answers a query with HTML: an HTML page is a blacklist notice,
    # a maintenance page or a proxy's login page. Only then is the body read here (pyvo
    # streams its responses, so reading a VOTable body here would leave it nothing).
    ctype = response.headers.get("Content-Type", "").lower()
    if "html" in ctype:
        body = response.content[:8192]
        if _BLACKLIST.search(body):
            raise BlacklistedError(f"{response.url} answered with a blacklist page")
        raise NotAVOTableError(f"HTML page (HTTP {status}) from {response.url}")
    if status == 403:
        raise HttpStatusError(status, response.url)


def harden_session(
    session: requests.Session,
    timeout: float,
    on_request: Callable[[requests.Response], None] | None = None,
) -> requests.Session:
    adapter = _TimeoutAdapter(timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    hooks = [_check_response]
    if on_request is not None:
        hooks.insert(0, lambda r, *a, **k: on_request(r))
    session.hooks["response"] = hooks
    return session
