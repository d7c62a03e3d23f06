"""The embedder spec string: one parser, one formatter, and they agree."""

from __future__ import annotations

import pytest

from astrolens.domain.backbones import RECOMMENDED_ONLINE_BACKBONE, ZOOBOT_ENCODERS
from astrolens.domain.embedder_spec import LITE0, EmbedderSpec, UnknownEmbedderError

CANONICAL = [
    "efficientnet-lite0",
    "efficientnet-lite0+bf16",
    "efficientnet-lite0+onnx",
    "efficientnet-lite0+torch",
    "efficientnet-lite0+d8+onnx",
    "efficientnet-lite0+bf16+d8",
    "efficientnet-lite0+ft-0123abcd",
    "efficientnet-lite0+ft-0123abcd+r256",
    "efficientnet-lite0+r128+bf16",
    "openclip:ViT-B-32/laion2b_s34b_b79k",
    "openclip:ViT-B-32/laion2b_s34b_b79k+bf16+d8",
    "openclip:tiny/C:/models/my+weights.pt+d8",  # a "+" inside a file path stays in the path
    "zoobot:convnext_nano",
    "zoobot:convnext_pico+onnx",
    "zoobot:greyscale-convnext_nano+bf16+d8",
]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_specs_round_trip(text: str) -> None:
    spec = EmbedderSpec.parse(text)
    assert spec.format() == text == str(spec)
    assert EmbedderSpec.parse(spec.format()) == spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            " efficientnet-lite0+onnx ",
            EmbedderSpec("builtin", LITE0, runtime="onnx"),
        ),
        (
            "efficientnet-lite0+d8+bf16+r96+ft-aa+r128",  # any order; the last size wins
            EmbedderSpec("builtin", LITE0, "bf16", "dihedral", "auto", "aa", 128),
        ),
        (
            "efficientnet-lite0+torch+onnx",  # ONNX Runtime wins, as create_embedder always did
            EmbedderSpec("builtin", LITE0, runtime="onnx"),
        ),
        (
            "zoobot:convnext_nano+d8+bf16",
            EmbedderSpec("zoobot", "convnext_nano", "bf16", "dihedral"),
        ),
        (
            "openclip:ViT-L-14/openai+d8",
            EmbedderSpec("openclip", "ViT-L-14/openai", tta="dihedral"),
        ),
    ],
)
def test_parse_reads_every_form(text: str, expected: EmbedderSpec) -> None:
    parsed = EmbedderSpec.parse(text)
    assert parsed == expected
    assert EmbedderSpec.parse(parsed.format()) == parsed  # any form formats to one that parses


def test_open_clip_parts() -> None:
    spec = EmbedderSpec.openclip("ViT-B-32", "/tmp/a/b.pt")
    assert (spec.arch, spec.pretrained) == ("ViT-B-32", "/tmp/a/b.pt")
    assert spec.format() == "openclip:ViT-B-32//tmp/a/b.pt"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("efficientnet-lite0+fp16", "unknown embedder option 'fp16'"),
        ("efficientnet-lite0+", "unknown embedder option ''"),
        ("openclip:ViT-S-32", "expected openclip:<arch>/<pretrained"),
        ("openclip:/laion", "expected openclip:<arch>/<pretrained"),
    ],
)
def test_bad_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(UnknownEmbedderError, match=message):
        EmbedderSpec.parse(text)


def test_published_backbones_are_specs() -> None:
    for backbone in ZOOBOT_ENCODERS:
        assert EmbedderSpec.parse(backbone.spec) == EmbedderSpec.zoobot(backbone.name)
    assert RECOMMENDED_ONLINE_BACKBONE == "zoobot:convnext_nano"
