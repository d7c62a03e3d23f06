"""Image backbones behind `astrolens.domain.ports.Embedder`.

Importing this package is cheap: torch, open_clip and the weights load on first use.
"""

from astrolens.ml.embedders.base import TTA, Precision, TorchEmbedder
from astrolens.ml.embedders.errors import (
    CorruptCheckpointError,
    ModelUnavailableError,
    UnknownEmbedderError,
)
from astrolens.ml.embedders.registry import (
    DEFAULT_EMBEDDER,
    EmbedderInfo,
    available_embedders,
    create_embedder,
    recommended_embedder_spec,
)

__all__ = [
    "DEFAULT_EMBEDDER",
    "TTA",
    "CorruptCheckpointError",
    "EmbedderInfo",
    "ModelUnavailableError",
    "Precision",
    "TorchEmbedder",
    "UnknownEmbedderError",
    "available_embedders",
    "create_embedder",
    "recommended_embedder_spec",
]
