"""Give memory the agent freed back to the system once a scan or cycle is over.

Decoding and embedding a batch allocate large, short-lived buffers on several threads; glibc
keeps what they freed in per-thread heaps, so an idle agent looked as large as a busy one.
malloc_trim(0) returns those free pages. Elsewhere (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)


def release_freed_memory() -> bool:
    """Blocking (it walks the heaps): call it on an executor. True when glibc trimmed."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(trim(0))
