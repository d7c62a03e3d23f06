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
