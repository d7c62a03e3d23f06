"""Hand-made image features that complement the backbone embedding."""

from astrolens.ml.features.multiview import MultiViewEmbedder, centre_crop, dihedral_views
from astrolens.ml.features.photometry import (
    FEATURE_NAMES,
    photometric_features,
    photometric_matrix,
)

__all__ = [
    "FEATURE_NAMES",
    "MultiViewEmbedder",
    "centre_crop",
    "dihedral_views",
    "photometric_features",
    "photometric_matrix",
]
