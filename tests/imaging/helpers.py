"""Small builders shared by the imaging tests."""

from __future__ import annotations

from pathlib import Path

from astrolens.domain.images import ImageGroup, Provenance, RawImage


def raw_from(
    path: Path, group: ImageGroup = ImageGroup.SURVEY, name: str | None = None
) -> RawImage:
    return RawImage(
        provenance=Provenance(source_id="test", uri=path.as_uri()),
        name=name or path.name,
        data=path.read_bytes(),
        group=group,
    )


def raw_bytes(data: bytes, name: str, group: ImageGroup = ImageGroup.SURVEY) -> RawImage:
    return RawImage(
        provenance=Provenance(source_id="test", uri=f"mem://{name}"),
        name=name,
        data=data,
        group=group,
    )
