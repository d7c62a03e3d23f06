"""What makes two images look alike, so that an image is only judged against its own kind.

An ImageGroup (survey stamp / picture / transient) is too coarse: a detector fitted on Hubble
deep-field stamps finds every DECaLS JPEG "unlike anything seen", so a folder from a new survey
was flagged wholesale. The kind adds what changes an image's look before anything astronomical
does: where it comes from (the survey or instrument when known, else the source), whether it was
cut out of a larger frame, colour or greyscale, the band set, and the pixel scale (to within a
factor of ~1.4, so that one survey's small jitter in scale stays one kind).

A kind with fewer than `min_reference` stored references has no honest calibration: its images
are ranked within their batch and never called anomalies until the reference has grown
(`new_kind_message`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from astrolens.domain.images import ImageGroup, Provenance

KIND_KEY = "kind"  # the key under Provenance.extra where the decoder stores the kind
INSTRUMENT_KEY = "instrument"  # TELESCOP/INSTRUME of a FITS file, stored by the decoder
COLOUR_KEY = "colour"


@dataclass(frozen=True, slots=True)
class ImageKind:
    group: ImageGroup
    origin: str  # survey or instrument if known, otherwise the source id
    cut: str  # "stamp" (cut out of a frame) or "whole"
    colour: str  # "colour", "grey" or "?" (unknown: an image stored before kinds existed)
    bands: str = ""
    scale: str = ""  # pixel-scale bucket, e.g. '0.25"/px'

    @property
    def key(self) -> str:
        """Stable, compact, stored with every image: equal keys = the same kind."""
        return "|".join(
            (self.group.value, self.origin, self.cut, self.colour, self.bands, self.scale)
        )

    def describe(self) -> str:
        """What a person reads: 'folder, colour, whole images'."""
        parts = [self.origin, self.colour if self.colour != "?" else ""]
        parts += [self.bands, self.scale, "stamps from frames" if self.cut == "stamp" else ""]
        text = ", ".join(p for p in parts if p)
        return text if self.group is ImageGroup.SURVEY else f"{text} ({self.group.value}s)"


def scale_bucket(pixel_scale_arcsec: float | None) -> str:
    """Round the scale on a half-octave grid: 0.262 and 0.27 "/px share a bucket, 0.168 not."""
    if pixel_scale_arcsec is None or not pixel_scale_arcsec > 0 or math.isinf(pixel_scale_arcsec):
        return ""
    step = round(2.0 * math.log2(pixel_scale_arcsec)) / 2.0
    return f'{2.0**step:.3g}"/px'


def image_kind(
    provenance: Provenance, group: ImageGroup, *, is_stamp: bool, colour: bool | None
) -> ImageKind:
    extra: Mapping[str, Any] = provenance.extra
    origin = (
        (provenance.survey or "").strip()
        or str(extra.get(INSTRUMENT_KEY) or "").strip()
        or source_family(provenance.source_id)
    )
    return ImageKind(
        group=group,
        origin=origin,
        cut="stamp" if is_stamp else "whole",
        colour="?" if colour is None else ("colour" if colour else "grey"),
        bands=(provenance.bands or "").strip(),
        scale=scale_bucket(provenance.pixel_scale_arcsec),
    )


def source_family(source_id: str) -> str:
    """The source as far as it says how images look: a named folder scan ("folder:night-2")
    is a folder like any other. Its name says nothing about the camera, and a user's second
    night must be judged against the first, not start again as a new kind."""
    return source_id.split(":", 1)[0]


def stored_kind(provenance: Provenance, group: ImageGroup, parent_uri: str | None) -> str:
    """The kind key of a stored image: the one the decoder recorded, else (an image stored
    before kinds existed) the kind computed from what the store kept, colour unknown."""
    key = provenance.extra.get(KIND_KEY)
    if isinstance(key, str) and key:
        return key
    return image_kind(provenance, group, is_stamp=parent_uri is not None, colour=None).key


def describe_key(key: str) -> str:
    """`describe()` of a stored key (the inverse of `ImageKind.key`)."""
    parts = key.split("|")
    if len(parts) != 6:
        return key
    try:
        group = ImageGroup(parts[0])
    except ValueError:
        return key
    return ImageKind(group, *parts[1:]).describe()


def new_kind_message(references: int, needed: int) -> str:
    """The words the product uses everywhere for a kind without a calibrated reference."""
    return f"new kind of image: no reference yet ({references} of {needed})"
