"""What makes images look alike: the kind that scoring groups the reference by."""

from __future__ import annotations

from astrolens.domain.images import ImageGroup, Provenance
from astrolens.domain.lookalike import (
    describe_key,
    image_kind,
    new_kind_message,
    scale_bucket,
)


def test_kind_separates_survey_colour_cut_and_scale() -> None:
    decals = Provenance("legacy-survey", "u1", survey="DECaLS DR10", bands="grz",
                        pixel_scale_arcsec=0.262)  # fmt: skip
    same = Provenance("legacy-survey", "u2", survey="DECaLS DR10", bands="grz",
                      pixel_scale_arcsec=0.27)  # fmt: skip
    hsc = Provenance("folder", "u3", survey="HSC", bands="gri", pixel_scale_arcsec=0.168)
    key = image_kind(decals, ImageGroup.SURVEY, is_stamp=False, colour=True).key
    assert key == image_kind(same, ImageGroup.SURVEY, is_stamp=False, colour=True).key
    assert key != image_kind(hsc, ImageGroup.SURVEY, is_stamp=False, colour=True).key
    assert key != image_kind(decals, ImageGroup.SURVEY, is_stamp=True, colour=True).key
    assert key != image_kind(decals, ImageGroup.SURVEY, is_stamp=False, colour=False).key


def test_instrument_stands_in_for_an_unknown_survey() -> None:
    plate = Provenance("folder", "f.fits", extra={"instrument": "UK Schmidt / Plate"})
    folder = Provenance("folder", "g.jpg")
    kind = image_kind(plate, ImageGroup.SURVEY, is_stamp=True, colour=False)
    assert kind.origin == "UK Schmidt / Plate"
    assert image_kind(folder, ImageGroup.SURVEY, is_stamp=False, colour=True).origin == "folder"
    assert describe_key(kind.key) == "UK Schmidt / Plate, grey, stamps from frames"


def test_scale_bucket_and_message() -> None:
    assert scale_bucket(None) == "" and scale_bucket(0.0) == ""
    assert scale_bucket(0.262) == scale_bucket(0.27) != scale_bucket(0.168)
    assert new_kind_message(3, 20) == "new kind of image: no reference yet (3 of 20)"


def test_a_named_folder_scan_is_a_folder_like_any_other() -> None:
    """The tray names each folder scan's source after the folder; its name says nothing about
    how the images look, so a second night is judged against the first."""
    from astrolens.domain.images import ImageGroup, Provenance
    from astrolens.domain.lookalike import image_kind

    def kind(source_id: str) -> str:
        prov = Provenance(source_id=source_id, uri=f"file:///{source_id}/a.png")
        return image_kind(prov, ImageGroup.SURVEY, is_stamp=False, colour=True).key

    assert kind("folder:night-1") == kind("folder:night-2") == kind("folder")
    assert kind("sdss") != kind("folder")
