"""What a source hands over (RawImage) and what decoding makes of it (DecodedImage)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import numpy as np
import numpy.typing as npt

from astrolens.domain.sky import SkyPosition

FloatImage = npt.NDArray[np.float32]


class ImageGroup(enum.StrEnum):
    """Images are only ever compared with images of the same group.

    Survey cutouts of galaxies and pretty pictures (APOD) have nothing in common; scoring one
    against the other's reference would flag every picture as an anomaly.
    """

    SURVEY = "survey"
    PICTURE = "picture"
    TRANSIENT = "transient"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an image came from, kept with every record and every verdict."""

    source_id: str
    uri: str
    survey: str | None = None
    bands: str | None = None
    pixel_scale_arcsec: float | None = None
    sky: SkyPosition | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return uri_file_name(self.uri)

    @property
    def display_name(self) -> str:
        """The name a person knows: a target list's own name for its row, else the file's."""
        target = self.extra.get("target")
        if isinstance(target, str) and target:
            return target
        return self.file_name


def uri_file_name(uri: str) -> str:
    """The last segment of a URI, decoded: file URIs are percent-encoded
    ("J150113.98%2B084208.1.jpg") and a person knows the real name."""
    return unquote(uri.rstrip("/").rsplit("/", 1)[-1])


@dataclass(frozen=True, slots=True)
class RawImage:
    """Bytes as a source fetched them, not yet decoded.

    `data` holds the file content; `name` is a file name whose suffix tells the format
    (e.g. ``cutout.fits.fz``). A source may hand several related files as one observation
    (a ZTF science/template/difference triplet) through `companions`.
    """

    provenance: Provenance
    name: str
    data: bytes
    group: ImageGroup = ImageGroup.SURVEY
    companions: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """One image ready for the model: display-stretched pixels in [0, 1], HxW or HxWx3.

    A large frame decodes into many of these (one stamp per detected source), each with its
    own sky position. `parent_uri` links a stamp back to its frame and `stamp_xy` to its pixel.
    """

    provenance: Provenance
    pixels: FloatImage
    content_hash: str
    perceptual_hash: str
    group: ImageGroup = ImageGroup.SURVEY
    parent_uri: str | None = None
    stamp_xy: tuple[float, float] | None = None
    object_size_px: float | None = None
    label: str = ""

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """An image as the store knows it."""

    id: int
    content_hash: str
    perceptual_hash: str
    provenance: Provenance
    width: int
    height: int
    group: ImageGroup
    created_at: datetime
    parent_uri: str | None = None
    image_path: str | None = None
    thumbnail_path: str | None = None
    sightings: int = 1

    @property
    def display_name(self) -> str:
        """What every view, report and notification calls this image; a stamp cut from a
        frame is named after its frame."""
        if self.parent_uri:
            return f"{uri_file_name(self.parent_uri)} (stamp)"
        return self.provenance.display_name
