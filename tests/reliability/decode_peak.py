"""Decode one file and print how much the process's peak RSS grew while doing it (JSON).

Run as a subprocess so each decode starts from a fresh peak: ``python -m
tests.reliability.decode_peak FILE``. Peak RSS (not tracemalloc) because Pillow, tifffile and
astropy allocate outside Python's allocator."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.images import Provenance, RawImage
from astrolens.imaging.decoder import ImageDecoder
from astrolens.sources.folder import read_regular_file


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


# A decoder that ignores its budget fails here with MemoryError instead of taking the machine.
ADDRESS_SPACE_LIMIT = 6 << 30


def main(path: Path) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    decoder = ImageDecoder()
    data = read_regular_file(path, 2 << 30)
    raw = RawImage(Provenance("peak", path.as_uri()), path.name, data)
    before = _peak_bytes()
    started = time.monotonic()
    try:
        images = decoder.decode(raw)
        outcome = f"decoded {len(images)} image(s)"
    except UnreadableImageError as exc:
        outcome = f"refused: {exc}"
    except MemoryError:
        outcome = "MemoryError"
    print(
        json.dumps(
            {
                "file": path.name,
                "peak_growth": max(0, _peak_bytes() - before),
                "seconds": time.monotonic() - started,
                "outcome": outcome,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
