"""Image decoding: bytes (JPEG/PNG/TIFF/FITS) to stretched float images, stamps and hashes."""

from astrolens.imaging.decoder import DecoderConfig, ImageDecoder
from astrolens.imaging.stamps import StampConfig
from astrolens.imaging.stretch import StretchMethod, stretch

__all__ = ["DecoderConfig", "ImageDecoder", "StampConfig", "StretchMethod", "stretch"]
