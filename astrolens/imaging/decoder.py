"""RawImage -> DecodedImage(s): the Decoder port.

One file can give several images: a large frame gives a downsampled preview (group PICTURE, so
every file is stored and browsable) plus one stamp per detected object (the source's group), and
a ZTF science/template/difference triplet gives one 3-channel image. Pure CPU and blocking: the
pipeline calls it from an executor.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.images import DecodedImage, FloatImage, ImageGroup, Provenance, RawImage
from astrolens.domain.lookalike import INSTRUMENT_KEY, KIND_KEY, image_kind
from astrolens.imaging.fits_reader import inflate_gzip, read_fits
from astrolens.imaging.hashing import bytes_hash, perceptual_hash, pixels_hash
from astrolens.imaging.quiet import install_decoder_warning_filters
from astrolens.imaging.raster import read_raster
from astrolens.imaging.resample import fit_within, resize
from astrolens.imaging.sniff import ImageFormat, sniff
from astrolens.imaging.stamps import (
    Detection,
    StampConfig,
    cut_square,
    detect_sources,
    detection_plane,
)
from astrolens.imaging.stretch import StretchMethod, scale_photographic, stretch
from astrolens.imaging.wcs import celestial_wcs, center_sky, pixel_scale_arcsec, pixel_to_sky

if TYPE_CHECKING:  # astropy loads with the first FITS file, not for JPEG/PNG scans
    from astropy.io.fits import Header
    from astropy.wcs import WCS

TRIPLET_KEYS: tuple[str, ...] = ("science", "template", "difference")


@dataclass(frozen=True, slots=True)
class DecoderConfig:
    # 200 MP: a full-resolution 14k x 14k plate scan still fits; a 64k x 64k bomb does not.
    max_pixels: int = 200_000_000
    # Decoding is budgeted by bytes, not pixels: a 1.2 MB TIFF can declare 14000 x 14000 x 3
    # 16-bit samples. Checked from the header, before anything is allocated.
    max_decoded_bytes: int = 1 << 30
    max_inflated_bytes: int = 1 << 30
    # Larger photos and TIFFs are reduced right after reading, in their own dtype, before any
    # float copy is made (a 168 MP PNG used to peak at 3.5 GB).
    max_working_pixels: int = 24_000_000
    # 8-bit pictures up to 512 px are survey cutouts (Galaxy Zoo's are 424); larger are fields.
    photo_frame_min_side: int = 513
    # Scientific cutouts rarely exceed 256 px; a 300+ px FITS is a CCD frame or a plate scan.
    science_frame_min_side: int = 300
    preview_max_side: int = 1024
    stretch: StretchMethod = StretchMethod.ASINH
    # APOD-style pictures are artistic composites, not detection fields: store them whole.
    stamp_pictures: bool = False
    stamps: StampConfig = field(default_factory=StampConfig)


@dataclass(frozen=True, slots=True)
class _Loaded:
    """Pixels in the file's own orientation, before any display stretch."""

    data: npt.NDArray[np.generic]
    photographic: bool
    is_fits: bool
    header: Header | None
    wcs: WCS | None
    notes: dict[str, object]

    @property
    def rows(self) -> int:
        return int(self.data.shape[0])

    @property
    def cols(self) -> int:
        return int(self.data.shape[1])


class ImageDecoder:
    """Implements astrolens.domain.ports.Decoder."""

    def __init__(self, config: DecoderConfig | None = None) -> None:
        self.config = config or DecoderConfig()
        install_decoder_warning_filters()

    def decode(self, raw: RawImage) -> list[DecodedImage]:
        return [_with_kind(image) for image in self._decode(raw)]

    def _decode(self, raw: RawImage) -> list[DecodedImage]:
        if raw.companions and set(TRIPLET_KEYS) <= set(raw.companions):
            return [self._decode_triplet(raw)]
        loaded = self._load(raw.data, raw.name)
        display = self._display(loaded)
        provenance = _with_wcs(raw.provenance, loaded)
        if not self._is_frame(loaded, raw.group):
            pixels = _orient(display, loaded)
            # An 8-bit file is its own 8-bit preview: hash it without a float round trip.
            hash_source = loaded.data if loaded.photographic else pixels
            return [
                DecodedImage(
                    provenance=provenance,
                    pixels=pixels,
                    content_hash=bytes_hash(raw.data),
                    perceptual_hash=perceptual_hash(hash_source),  # type: ignore[arg-type]
                    group=raw.group,
                )
            ]
        return [
            self._frame_preview(raw, loaded, display, provenance),
            *self._stamps(raw, loaded, display, provenance),
        ]

    # -- reading -----------------------------------------------------------------------------

    def _load(self, data: bytes, name: str) -> _Loaded:
        fmt = sniff(data, name)
        if fmt is ImageFormat.GZIP:
            data = inflate_gzip(data, name, self.config.max_inflated_bytes)
            if not data.startswith(b"SIMPLE  ="):
                raise UnreadableImageError(f"{name}: gzip file does not hold a FITS image")
            fmt = ImageFormat.FITS
        if fmt is ImageFormat.FITS:
            fits_data = read_fits(data, name, self.config.max_pixels, self.config.max_decoded_bytes)
            return _Loaded(
                data=fits_data.data,
                photographic=False,
                is_fits=True,
                header=fits_data.header,
                wcs=celestial_wcs(fits_data.header),
                notes={"hdu": fits_data.hdu_index, **fits_data.notes},
            )
        raster = read_raster(
            data,
            fmt,
            name,
            self.config.max_pixels,
            max_decoded_bytes=self.config.max_decoded_bytes,
            max_working_pixels=self.config.max_working_pixels,
        )
        notes: dict[str, object] = {"bit_depth": raster.bit_depth}
        if raster.reduced_by > 1:
            notes["reduced_by"] = raster.reduced_by
        return _Loaded(
            data=raster.data,
            photographic=raster.photographic,
            is_fits=False,
            header=None,
            wcs=None,
            notes=notes,
        )

    def _display(self, loaded: _Loaded) -> FloatImage:
        if loaded.photographic:
            return scale_photographic(loaded.data)  # type: ignore[arg-type]
        # FITS cubes hold different bands: stretch each; 16-bit RGB shares limits (colour).
        per_channel = loaded.is_fits and loaded.data.ndim == 3
        return stretch(loaded.data, self.config.stretch, per_channel=per_channel)

    def _is_frame(self, loaded: _Loaded, group: ImageGroup) -> bool:
        if group is ImageGroup.PICTURE and not self.config.stamp_pictures:
            return False
        if group is ImageGroup.TRANSIENT:
            return False
        limit = (
            self.config.photo_frame_min_side
            if loaded.photographic
            else self.config.science_frame_min_side
        )
        return min(loaded.rows, loaded.cols) >= limit

    # -- frames ------------------------------------------------------------------------------

    def _frame_preview(
        self, raw: RawImage, loaded: _Loaded, display: FloatImage, provenance: Provenance
    ) -> DecodedImage:
        preview, factor = fit_within(_orient(display, loaded), self.config.preview_max_side)
        scale = provenance.pixel_scale_arcsec
        return DecodedImage(
            provenance=dataclasses.replace(
                provenance,
                pixel_scale_arcsec=scale * factor if scale else None,
                extra={**provenance.extra, "frame_size": (loaded.cols, loaded.rows)},
            ),
            pixels=preview,
            content_hash=bytes_hash(raw.data),
            perceptual_hash=perceptual_hash(preview),
            group=ImageGroup.PICTURE,
            label="frame",
        )

    def _stamps(
        self, raw: RawImage, loaded: _Loaded, display: FloatImage, provenance: Provenance
    ) -> list[DecodedImage]:
        cfg = self.config.stamps
        if loaded.photographic:
            plane = detection_plane(display)
            source = display
        else:
            source = _fill_nonfinite(loaded.data.astype(np.float32, copy=False))
            plane = detection_plane(source)
        detections = detect_sources(plane, cfg)
        fill = float(np.median(source))
        scale = provenance.pixel_scale_arcsec
        per_channel = loaded.is_fits and source.ndim == 3
        stamps: list[DecodedImage] = []
        for index, det in enumerate(detections):
            side = det.stamp_side(cfg)
            cut = cut_square(source, det.x, det.y, side, fill)
            if not loaded.photographic:
                cut = stretch(cut, self.config.stretch, per_channel=per_channel)
            cut = _orient(cut, loaded)
            factor = 1.0
            if side > cfg.output_max_side:
                factor = side / cfg.output_max_side
                cut = resize(cut, cfg.output_max_side, cfg.output_max_side)
            stamps.append(
                self._stamp_image(
                    raw, provenance, loaded, det, index, len(detections), side, cut, factor, scale
                )
            )
        return stamps

    def _stamp_image(
        self,
        raw: RawImage,
        provenance: Provenance,
        loaded: _Loaded,
        det: Detection,
        index: int,
        count: int,
        side: int,
        pixels: FloatImage,
        factor: float,
        scale: float | None,
    ) -> DecodedImage:
        sky = pixel_to_sky(loaded.wcs, det.x, det.y) if loaded.wcs is not None else None
        stamp_provenance = dataclasses.replace(
            provenance,
            uri=f"{provenance.uri}#stamp={det.x:.0f},{det.y:.0f}",
            sky=sky,
            pixel_scale_arcsec=scale * factor if scale else None,
            extra={
                **provenance.extra,
                "stamp_index": index,
                "stamp_side_px": side,
                "flux": det.flux,
                "a_px": det.a,
                "b_px": det.b,
                "theta_rad": det.theta,
            },
        )
        return DecodedImage(
            provenance=stamp_provenance,
            pixels=pixels,
            content_hash=pixels_hash(pixels),
            perceptual_hash=perceptual_hash(pixels),
            group=raw.group,
            parent_uri=provenance.uri,
            stamp_xy=(det.x, det.y),
            # The isophotal diameter (~6 semi-major axes), in this stamp's own pixels.
            object_size_px=6.0 * det.a / factor,
            label=f"stamp {index + 1}/{count}",
        )

    # -- ZTF triplets ------------------------------------------------------------------------

    def _decode_triplet(self, raw: RawImage) -> DecodedImage:
        planes: list[_Loaded] = []
        for key in TRIPLET_KEYS:
            loaded = self._load(raw.companions[key], f"{raw.name} [{key}]")
            if not loaded.is_fits or loaded.data.ndim != 2:
                raise UnreadableImageError(f"{raw.name}: the {key} stamp is not a 2-D FITS image")
            planes.append(loaded)
        shapes = {p.data.shape for p in planes}
        if len(shapes) != 1:
            # Edge-of-CCD cutouts come clipped on an unknown side; aligning them is guesswork.
            raise UnreadableImageError(
                f"{raw.name}: triplet stamps differ in shape {sorted(shapes)}"
            )
        cube = np.stack([p.data for p in planes], axis=-1).astype(np.float32, copy=False)
        pixels = _orient(stretch(cube, self.config.stretch, per_channel=True), planes[0])
        provenance = _with_wcs(raw.provenance, planes[0])
        return DecodedImage(
            provenance=provenance,
            pixels=np.ascontiguousarray(pixels),
            content_hash=bytes_hash(*(raw.companions[k] for k in TRIPLET_KEYS)),
            perceptual_hash=perceptual_hash(pixels),
            group=ImageGroup.TRANSIENT,
            label="science/template/difference",
        )


def _orient(pixels: FloatImage, loaded: _Loaded) -> FloatImage:
    """FITS row 0 is the bottom of the picture: flip so north is up as astronomers display it."""
    return np.ascontiguousarray(pixels[::-1]) if loaded.is_fits else pixels


def _fill_nonfinite(data: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    bad = ~np.isfinite(data)
    if not bad.any():
        return data
    out = data.copy()
    out[bad] = float(np.median(data[~bad]))
    return out


def _with_kind(image: DecodedImage) -> DecodedImage:
    """Record what kind of image this is (domain/lookalike.py), so that the scorer judges it
    only against images that look alike, and the store keeps the kind with the image."""
    kind = image_kind(
        image.provenance,
        image.group,
        is_stamp=image.parent_uri is not None,
        colour=image.pixels.ndim == 3 and image.pixels.shape[-1] == 3,
    )
    extra = {**image.provenance.extra, KIND_KEY: kind.key}
    return dataclasses.replace(image, provenance=dataclasses.replace(image.provenance, extra=extra))


def _instrument(header: Any) -> str:
    """TELESCOP/INSTRUME of a FITS header ('Palomar 48-inch Schmidt / DSS'): images from one
    instrument look alike even when no source told us the survey."""
    if header is None:
        return ""
    parts = [str(header.get(k, "")).strip() for k in ("TELESCOP", "INSTRUME")]
    return " / ".join(p for p in parts if p)[:80]


def _with_wcs(provenance: Provenance, loaded: _Loaded) -> Provenance:
    """Fill sky position and pixel scale from the WCS; keep the source's values otherwise."""
    instrument = _instrument(loaded.header)
    if instrument and INSTRUMENT_KEY not in provenance.extra:
        provenance = dataclasses.replace(
            provenance, extra={**provenance.extra, INSTRUMENT_KEY: instrument}
        )
    if loaded.wcs is None:
        return provenance
    sky = center_sky(loaded.wcs, loaded.data.shape) or provenance.sky
    scale = pixel_scale_arcsec(loaded.wcs) or provenance.pixel_scale_arcsec
    return dataclasses.replace(provenance, sky=sky, pixel_scale_arcsec=scale)
