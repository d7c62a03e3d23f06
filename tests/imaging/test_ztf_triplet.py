from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.images import ImageGroup, Provenance, RawImage
from astrolens.domain.sky import SkyPosition
from astrolens.imaging import ImageDecoder
from astrolens.imaging.stretch import stretch

KEYS = ("science", "template", "difference")


def _triplet(shared_data: Path, name: str) -> dict[str, bytes]:
    return {k: (shared_data / "demo" / f"ztf__{name}_{k}.fits").read_bytes() for k in KEYS}


# ZTF stamps bend the FITS standard (SIMPLE card format); astropy warns when the test reads them.
@pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")
@pytest.mark.parametrize("name", ["ZTF24aajbcje", "ZTF24aajzvnv"])
def test_triplet_decodes_to_one_three_channel_image(
    decoder: ImageDecoder, shared_data: Path, name: str
) -> None:
    parts = _triplet(shared_data, name)
    alert_position = SkyPosition(200.0, 10.0)  # the alert's own position, from the source
    raw = RawImage(
        provenance=Provenance("ztf", f"ztf://{name}", sky=alert_position),
        name=f"{name}.fits",
        data=parts["science"],
        companions=parts,
    )
    (image,) = decoder.decode(raw)
    assert image.group is ImageGroup.TRANSIENT
    assert image.pixels.shape == (63, 63, 3)
    # These cutouts carry no WCS: the alert position the source gave is kept.
    assert image.provenance.sky == alert_position
    assert image.content_hash == hashlib.sha256(b"".join(parts[k] for k in KEYS)).hexdigest()
    # Each channel is its own stretched plane, in science/template/difference order.
    from astropy.io import fits

    for channel, key in enumerate(KEYS):
        data = fits.getdata(shared_data / "demo" / f"ztf__{name}_{key}.fits").astype(np.float32)
        np.testing.assert_allclose(image.pixels[..., channel], stretch(data)[::-1], atol=1e-6)


def test_triplet_with_mismatched_shapes_is_refused(
    decoder: ImageDecoder, shared_data: Path
) -> None:
    import io

    from astropy.io import fits

    parts = _triplet(shared_data, "ZTF24aajbcje")
    buffer = io.BytesIO()
    fits.PrimaryHDU(np.ones((63, 40), dtype=np.float32) + np.arange(40)).writeto(buffer)
    parts["template"] = buffer.getvalue()
    raw = RawImage(Provenance("ztf", "ztf://x"), "x.fits", parts["science"], companions=parts)
    with pytest.raises(UnreadableImageError, match="differ in shape"):
        decoder.decode(raw)


def test_gzipped_alert_stamps_from_a_real_avro_packet(
    decoder: ImageDecoder, shared_data: Path
) -> None:
    import fastavro

    with (shared_data / "ztf" / "ztf-avro-alert" / "396522680015020000.avro").open("rb") as f:
        alert = next(iter(fastavro.reader(f)))
    parts = {
        key: alert[f"cutout{key.capitalize()}"]["stampData"] for key in KEYS
    }  # gzip-compressed FITS, as ZTF ships them
    assert all(p[:2] == b"\x1f\x8b" for p in parts.values())
    raw = RawImage(
        Provenance("ztf", "ztf://alert"), "alert.fits.gz", parts["science"], companions=parts
    )
    (image,) = decoder.decode(raw)
    assert image.pixels.shape == (63, 63, 3) and image.group is ImageGroup.TRANSIENT
    assert np.isfinite(image.pixels).all()


def test_position_comes_from_the_science_wcs(decoder: ImageDecoder) -> None:
    import io

    from astropy.io import fits

    rng = np.random.default_rng(3)
    parts = {}
    for key in KEYS:
        hdu = fits.PrimaryHDU(rng.normal(100, 5, (63, 63)).astype(np.float32))
        if key == "science":
            hdu.header.update(
                CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=150.0, CRVAL2=2.0,
                CRPIX1=32.0, CRPIX2=32.0, CDELT1=-1.0 / 3600, CDELT2=1.0 / 3600,
            )  # fmt: skip
        buffer = io.BytesIO()
        hdu.writeto(buffer)
        parts[key] = buffer.getvalue()
    raw = RawImage(
        Provenance("ztf", "ztf://wcs", sky=SkyPosition(10.0, 10.0)), "w.fits", parts["science"],
        companions=parts,
    )  # fmt: skip
    (image,) = decoder.decode(raw)
    assert image.provenance.sky is not None
    # Pixel 31 (0-based) is CRPIX 32: the centre of a 63 px stamp is the reference point.
    assert image.provenance.sky.separation_arcsec(SkyPosition(150.0, 2.0)) < 0.01
    assert image.provenance.pixel_scale_arcsec is not None
    assert abs(image.provenance.pixel_scale_arcsec - 1.0) < 1e-6
