"""Published galaxy-trained backbones a user can pick when online: names, what they are, their
citation. Pure data, so the settings screen (which sees only the domain) can offer them.

Zoobot (Walmsley et al.) encoders are trained on Galaxy Zoo volunteer answers for millions of
galaxies (SDSS, DECaLS, HSC, Hubble, ...), and published as timm models on the Hugging Face
hub. An ImageNet network has never seen a galaxy; these have (see README "Model performance"
for what the benchmark shows, and benchmarks/detection.py to measure one).
"""

from __future__ import annotations

from dataclasses import dataclass

from astrolens.domain.embedder_spec import EmbedderSpec

ZOOBOT_HUB_OWNER = "mwalmsley"
ZOOBOT_CITATION = (
    "Walmsley et al. (2023), Zoobot: Adaptable Deep Learning Models for Galaxy Morphology, "
    "Journal of Open Source Software 8(85), 5312; weights: huggingface.co/mwalmsley"
)


@dataclass(frozen=True, slots=True)
class PublishedBackbone:
    name: str  # the part after "zoobot:"
    description: str
    download_mb: int  # roughly, so the user knows what "download on first use" means

    @property
    def spec(self) -> str:
        return EmbedderSpec.zoobot(self.name).format()

    @property
    def hub_repo(self) -> str:
        return f"{ZOOBOT_HUB_OWNER}/zoobot-encoder-{self.name}"


# Smallest first: on a 2-core CPU the small ConvNeXts are the ones that keep up with a survey.
ZOOBOT_ENCODERS: tuple[PublishedBackbone, ...] = (
    PublishedBackbone("convnext_pico", "Zoobot ConvNeXt-pico, colour (the fast choice)", 34),
    PublishedBackbone("convnext_nano", "Zoobot ConvNeXt-nano, colour (recommended)", 60),
    PublishedBackbone("efficientnet_b0", "Zoobot EfficientNet-B0, colour", 16),
    PublishedBackbone("greyscale-convnext_pico", "Zoobot ConvNeXt-pico, greyscale", 34),
    PublishedBackbone("greyscale-convnext_nano", "Zoobot ConvNeXt-nano, greyscale (FITS)", 60),
    PublishedBackbone("convnext_base", "Zoobot ConvNeXt-base, colour (slow on a CPU)", 350),
)
RECOMMENDED_ONLINE_BACKBONE = EmbedderSpec.zoobot("convnext_nano").format()


def zoobot_backbone(name: str) -> PublishedBackbone | None:
    return next((b for b in ZOOBOT_ENCODERS if b.name == name), None)
