"""Hand-made image features that complement the backbone embedding."""

from astrolens.ml.features.photometry import (
    FEATURE_NAMES,
    photometric_features,
    photometric_matrix,
)

__all__ = ["FEATURE_NAMES", "photometric_features", "photometric_matrix"]
