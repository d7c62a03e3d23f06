"""Vector index over embeddings of one model (FAISS, imported lazily)."""

from astrolens.ml.index.errors import CorruptIndexError, StaleIndexError
from astrolens.ml.index.faiss_index import FaissIndex

__all__ = ["CorruptIndexError", "FaissIndex", "StaleIndexError"]
