"""A FAISS vector index for one embedding model, searched by cosine distance.

search() returns *cosine distances* (1 - cosine similarity, in [0, 2]; smaller is nearer) and
int64 ids; a missing neighbour (k > len) is id -1 with distance +inf.

Flat (exact) inner-product search below `hnsw_threshold` vectors, HNSW above. Trade-off,
measured on this 2-core CPU (ENVIRONMENT.md, 1M x 512): flat costs ~98 ms per query and exact
results; HNSW (M=32) ~0.3-0.8 ms per query at recall@10 0.92-0.97 but ~94 s to build. Flat
query time grows linearly: 68 ms per query at 100k x 1280-d measured here (batch of 50, on a
shared, busy 2-core machine), which would throttle a 60 images/s pipeline. So exact search up
to 50k vectors (~35 ms), HNSW beyond; rebuilding 50k into HNSW takes a few seconds.

File format (one file, written atomically): MAGIC, a 4-byte little-endian header length, a
JSON header {format, model_id, dim, count, kind, payload_sha256}, then FAISS's serialised index.
One file instead of index + sidecar, so the two can never drift apart.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from astrolens.domain.embedding import Embedding, require_same_model
from astrolens.domain.ports import Matrix
from astrolens.fileio import atomic
from astrolens.ml.index.errors import CorruptIndexError, StaleIndexError

MAGIC = b"ASTROLENS-FAISS\n"
FORMAT_VERSION = 1
DEFAULT_HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


def _faiss() -> Any:
    import faiss  # lazy: faiss loads BLAS and costs time the tray start-up should not pay

    return faiss


def _unit_rows(vectors: npt.ArrayLike) -> Matrix:
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    # Re-normalise: inner product equals cosine only for unit vectors, and float16/bf16
    # round-trips through the store drift slightly off the unit sphere.
    return np.ascontiguousarray(array / np.maximum(norms, 1e-12), dtype=np.float32)


class FaissIndex:
    """Implements `astrolens.domain.ports.VectorIndex`. Blocking: call from an executor."""

    def __init__(
        self, model_id: str, dim: int, *, hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, not {dim}")
        self.model_id = model_id
        self.dim = dim
        self.hnsw_threshold = hnsw_threshold
        self._ids: set[int] = set()
        self._index: Any = self._new_index(hnsw=False)
        self._hnsw = False

    @property
    def kind(self) -> str:
        return "hnsw" if self._hnsw else "flat"

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def _new_index(self, *, hnsw: bool) -> Any:
        faiss = _faiss()
        if hnsw:
            inner = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            inner = faiss.IndexFlatIP(self.dim)
        return faiss.IndexIDMap(inner)

    def _check(self, vectors: npt.ArrayLike, model_id: str | None) -> Matrix:
        array = np.asarray(vectors)
        dim = int(array.shape[-1]) if array.ndim in (1, 2) else -1
        require_same_model(self.model_id, self.dim, model_id or self.model_id, dim)
        return _unit_rows(array)

    def add(self, ids: Sequence[int], vectors: Matrix, *, model_id: str | None = None) -> None:
        """Add unit vectors under int64 ids. Pass `model_id` to have it checked too."""
        matrix = self._check(vectors, model_id)
        id_array = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(id_array) != len(matrix):
            raise ValueError(f"{len(id_array)} ids for {len(matrix)} vectors")
        new_ids = {int(i) for i in id_array}
        if len(new_ids) != len(id_array) or new_ids & self._ids:
            raise ValueError("ids must be unique and not already in the index")
        if not self._hnsw and len(self) + len(matrix) > self.hnsw_threshold:
            self._switch_to_hnsw()
        self._index.add_with_ids(matrix, id_array)
        self._ids |= new_ids

    def add_embeddings(self, ids: Sequence[int], embeddings: Sequence[Embedding]) -> None:
        """Add domain Embeddings, refusing any made by another model."""
        for embedding in embeddings:
            require_same_model(self.model_id, self.dim, embedding.model_id, embedding.dim)
        if embeddings:
            self.add(ids, np.stack([e.vector for e in embeddings]))

    def search(
        self, vectors: Matrix, k: int, *, model_id: str | None = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """(cosine distances (N, k), ids (N, k)), nearest first."""
        queries = self._check(vectors, model_id)
        if k <= 0:
            raise ValueError(f"k must be positive, not {k}")
        if len(self) == 0:
            return (
                np.full((len(queries), k), np.inf, np.float32),
                np.full((len(queries), k), -1, np.int64),
            )
        similarities, ids = self._index.search(queries, k)
        # Clip float rounding (1 - 1.0000001) so that distances stay within [0, 2].
        distances = np.clip(1.0 - similarities, 0.0, 2.0).astype(np.float32)
        distances[ids < 0] = np.inf
        return distances, ids.astype(np.int64)

    def vectors(self) -> tuple[npt.NDArray[np.int64], Matrix]:
        """All (ids, vectors) currently held, in insertion order."""
        faiss = _faiss()
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        inner = faiss.downcast_index(self._index.index)
        return ids, inner.reconstruct_n(0, len(self)).astype(np.float32)

    def rebuild(self, ids: Sequence[int], vectors: Matrix) -> None:
        """Replace the whole content (e.g. from the store after a model change)."""
        matrix = self._check(vectors, None)
        self._ids = set()
        self._hnsw = len(matrix) > self.hnsw_threshold
        self._index = self._new_index(hnsw=self._hnsw)
        self.add(ids, matrix)

    def _switch_to_hnsw(self) -> None:
        ids, vectors = self.vectors()
        self._index = self._new_index(hnsw=True)
        self._hnsw = True
        if len(ids):
            self._index.add_with_ids(vectors, ids)

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write atomically (temp file + fsync + replace): a crash leaves the old file intact."""
        faiss = _faiss()
        payload = faiss.serialize_index(self._index).tobytes()
        header = json.dumps(
            {
                "format": FORMAT_VERSION,
                "model_id": self.model_id,
                "dim": self.dim,
                "count": len(self),
                "kind": self.kind,
                "hnsw_threshold": self.hnsw_threshold,
                "payload_sha256": hashlib.sha256(payload).hexdigest(),
            }
        ).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, MAGIC + struct.pack("<I", len(header)) + header + payload)

    @staticmethod
    def read_header(path: Path) -> dict[str, Any]:
        """The JSON header alone, without loading the vectors (cheap staleness check)."""
        with path.open("rb") as handle:
            return _parse_header(path, handle.read(len(MAGIC) + 4), handle)

    @classmethod
    def load(cls, path: Path, expected_model_id: str, expected_dim: int) -> FaissIndex:
        """Load a saved index, or raise StaleIndexError (other model/dim/format) or
        CorruptIndexError (damaged file). Either way the caller rebuilds from the store."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise CorruptIndexError(f"cannot read index {path}: {exc}") from exc
        import io

        stream = io.BytesIO(data)
        header = _parse_header(path, stream.read(len(MAGIC) + 4), stream)
        if header.get("format") != FORMAT_VERSION:
            raise StaleIndexError(
                f"index {path} has format {header.get('format')!r}, this version reads "
                f"{FORMAT_VERSION}; rebuild it"
            )
        if header.get("model_id") != expected_model_id or header.get("dim") != expected_dim:
            raise StaleIndexError(
                f"index {path} holds {header.get('model_id')!r} (dim {header.get('dim')}) but "
                f"the embedder is {expected_model_id!r} (dim {expected_dim}); rebuild it"
            )
        payload = stream.read()
        if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
            raise CorruptIndexError(f"index {path} is damaged (checksum mismatch); rebuild it")
        faiss = _faiss()
        try:
            index = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
        except Exception as exc:  # faiss raises RuntimeError with a C++ trace
            raise CorruptIndexError(f"index {path} cannot be read by FAISS; rebuild it") from exc
        if index.d != expected_dim or index.ntotal != header.get("count"):
            raise CorruptIndexError(f"index {path} disagrees with its header; rebuild it")
        loaded = cls(
            expected_model_id,
            expected_dim,
            hnsw_threshold=int(header.get("hnsw_threshold", DEFAULT_HNSW_THRESHOLD)),
        )
        loaded._index = index
        loaded._hnsw = header.get("kind") == "hnsw"
        loaded._ids = {int(i) for i in faiss.vector_to_array(index.id_map)}
        return loaded


def _parse_header(path: Path, prefix: bytes, stream: Any) -> dict[str, Any]:
    if len(prefix) < len(MAGIC) + 4 or not prefix.startswith(MAGIC):
        raise CorruptIndexError(f"{path} is not an AstroLens index (bad magic); rebuild it")
    (length,) = struct.unpack("<I", prefix[len(MAGIC) :])
    raw = stream.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptIndexError(f"index {path} has a damaged header; rebuild it") from exc
    if not isinstance(header, dict):
        raise CorruptIndexError(f"index {path} has a damaged header; rebuild it")
    return header
