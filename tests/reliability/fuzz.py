"""Mutation fuzzing of the decoder with real JPEG, PNG, TIFF and FITS files.

Every mutated file must end in decoded images or UnreadableImageError, within a time limit:
anything else (another exception, a hang) is a finding. Mutations follow what real damage and
hostile files look like: flipped bits, overwritten bytes, truncation, repeated or removed
chunks, and header numbers (FITS NAXISn/BITPIX, PNG IHDR, TIFF tags) set to extremes.
"""

from __future__ import annotations

import io
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.images import Provenance, RawImage
from astrolens.imaging.decoder import DecoderConfig, ImageDecoder

EXTREMES = (0, 1, 2, 255, 256, 65535, 65536, 2**31 - 1, 2**32 - 1)


def seed_files(shared_data: Path) -> dict[str, bytes]:
    """One small real file per format (TIFF: a real JPEG's pixels, written as 16-bit TIFF)."""
    import tifffile
    from PIL import Image

    demo = shared_data / "demo"
    jpeg = sorted(demo.glob("normal__*.jpg"))[0].read_bytes()
    png = sorted(demo.glob("*.png"))[0].read_bytes()
    pixels = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.uint16) * 257
    tiff = io.BytesIO()
    tifffile.imwrite(tiff, pixels, photometric="rgb", compression="zlib")
    fits = (demo / "ztf__ZTF24aajbcje_science.fits").read_bytes()
    return {"jpg": jpeg, "png": png, "tif": tiff.getvalue(), "fits": fits}


def _flip_bits(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 16)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)


def _overwrite(data: bytearray, rng: random.Random) -> None:
    start = rng.randrange(len(data))
    for i in range(start, min(len(data), start + rng.randint(1, 64))):
        data[i] = rng.randrange(256)


def _truncate(data: bytearray, rng: random.Random) -> None:
    del data[rng.randint(1, max(1, len(data) - 1)) :]


def _repeat_chunk(data: bytearray, rng: random.Random) -> None:
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randint(1, 4096)]
    data[start:start] = chunk * rng.randint(1, 8)


def _remove_chunk(data: bytearray, rng: random.Random) -> None:
    start = rng.randrange(len(data))
    del data[start : start + rng.randint(1, 4096)]


def _header_number(data: bytearray, rng: random.Random) -> None:
    """Set a number the decoder sizes things by to an extreme value."""
    value = rng.choice(EXTREMES)
    if data.startswith(b"SIMPLE"):
        cards = [m.start() for m in re.finditer(rb"(NAXIS\d?|BITPIX) *=", bytes(data[: 2880 * 4]))]
        if cards:
            at = rng.choice(cards)
            text = str(rng.choice([value, -value, -64, 64, 3, 7]) if rng.random() < 0.3 else value)
            data[at + 10 : at + 30] = text.rjust(20).encode()
            return
    if data.startswith(b"\x89PNG"):
        at = 16 + rng.choice([0, 4])  # IHDR width or height
        data[at : at + 4] = (value & 0xFFFFFFFF).to_bytes(4, "big")
        return
    at = rng.randrange(0, min(len(data) - 4, 512))
    data[at : at + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")


MUTATORS: tuple[Callable[[bytearray, random.Random], None], ...] = (
    _flip_bits,
    _overwrite,
    _truncate,
    _repeat_chunk,
    _remove_chunk,
    _header_number,
)


def mutate(seed: bytes, rng: random.Random) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        rng.choice(MUTATORS)(data, rng)
    return bytes(data)


@dataclass
class FuzzReport:
    cases: int = 0
    decoded: int = 0
    refused: int = 0
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)


def _decode_with_limit(
    decoder: ImageDecoder, raw: RawImage, seconds: float
) -> tuple[str, BaseException | None]:
    outcome: list[tuple[str, BaseException | None]] = []

    def work() -> None:
        try:
            decoder.decode(raw)
            outcome.append(("decoded", None))
        except UnreadableImageError as exc:
            outcome.append(("refused", exc))
        except BaseException as exc:
            outcome.append(("crash", exc))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else ("hang", None)


def fuzz(
    seeds: dict[str, bytes], cases: int, rng: random.Random, time_limit_s: float = 30.0
) -> FuzzReport:
    # A lower budget than the app's keeps a legitimately huge mutation quick to refuse.
    decoder = ImageDecoder(DecoderConfig(max_decoded_bytes=256 << 20, max_inflated_bytes=256 << 20))
    report = FuzzReport()
    kinds = sorted(seeds)
    for case in range(cases):
        kind = kinds[case % len(kinds)]
        data = mutate(seeds[kind], rng)
        raw = RawImage(Provenance("fuzz", f"fuzz:{case}"), f"case{case}.{kind}", data)
        result, exc = _decode_with_limit(decoder, raw, time_limit_s)
        report.cases += 1
        if result == "decoded":
            report.decoded += 1
        elif result == "refused":
            report.refused += 1
        elif result == "hang":
            report.hangs.append(f"case {case} ({kind}): no answer in {time_limit_s} s")
        else:
            report.crashes.append(f"case {case} ({kind}): {type(exc).__name__}: {exc}")
    return report
