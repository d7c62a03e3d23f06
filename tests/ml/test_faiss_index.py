"""FaissIndex: exact neighbours, cosine distances, persistence, mismatch and corruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from astrolens.domain.embedding import Embedding, ModelMismatchError
from astrolens.ml.index import CorruptIndexError, FaissIndex, StaleIndexError

MODEL = "test-model/v1"


def _unit(*rows: list[float]) -> np.ndarray:
    array = np.asarray(rows, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


@pytest.fixture
def hand_made() -> FaissIndex:
    # Four directions in 3-d with known angles: x, a bit off x, y, -x.
    index = FaissIndex(MODEL, 3)
    index.add([10, 11, 20, 30], _unit([1, 0, 0], [1, 0.1, 0], [0, 1, 0], [-1, 0, 0]))
    return index


def test_known_nearest_neighbours_and_cosine_distances(hand_made: FaissIndex) -> None:
    distances, ids = hand_made.search(_unit([1, 0.02, 0]), k=4)
    assert ids[0].tolist() == [10, 11, 20, 30]
    # Exact cosine distances to x, (1, .1, 0), y and -x.
    query = _unit([1, 0.02, 0])[0]
    expected = [1 - query @ _unit(v)[0] for v in ([1, 0, 0], [1, 0.1, 0], [0, 1, 0], [-1, 0, 0])]
    np.testing.assert_allclose(distances[0], expected, atol=1e-6)
    assert distances[0][-1] == pytest.approx(1 + query[0], abs=1e-6)  # the opposite direction


def test_search_normalises_queries_and_pads_missing_neighbours(hand_made: FaissIndex) -> None:
    distances, ids = hand_made.search(np.array([[0, 5, 0]], np.float32), k=6)
    assert ids[0, 0] == 20 and distances[0, 0] == pytest.approx(0, abs=1e-6)
    assert ids[0, 4:].tolist() == [-1, -1]
    assert np.isinf(distances[0, 4:]).all()


def test_empty_index_search() -> None:
    distances, ids = FaissIndex(MODEL, 3).search(_unit([1, 0, 0]), k=2)
    assert ids.tolist() == [[-1, -1]] and np.isinf(distances).all()


def test_refuses_wrong_dim_wrong_model_and_duplicate_ids(hand_made: FaissIndex) -> None:
    with pytest.raises(ModelMismatchError):
        hand_made.add([1], np.ones((1, 4), np.float32))
    with pytest.raises(ModelMismatchError):
        hand_made.search(np.ones((1, 4), np.float32), k=1)
    with pytest.raises(ModelMismatchError):
        hand_made.add([1], _unit([1, 1, 0]), model_id="other-model/v1")
    with pytest.raises(ModelMismatchError):
        hand_made.add_embeddings([1], [Embedding("other-model/v1", _unit([1, 1, 0])[0])])
    with pytest.raises(ValueError, match="unique"):
        hand_made.add([10], _unit([1, 1, 0]))
    assert len(hand_made) == 4


def test_add_embeddings_of_the_right_model(hand_made: FaissIndex) -> None:
    hand_made.add_embeddings([40], [Embedding(MODEL, _unit([0, 0, 1])[0])])
    _, ids = hand_made.search(_unit([0, 0.1, 1]), k=1)
    assert ids[0, 0] == 40


def test_save_load_round_trip(hand_made: FaissIndex, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "index.faiss"
    hand_made.save(path)
    header = FaissIndex.read_header(path)
    assert header["model_id"] == MODEL and header["dim"] == 3 and header["count"] == 4
    assert header["format"] == 1
    loaded = FaissIndex.load(path, MODEL, 3)
    assert len(loaded) == 4
    query = _unit([0.2, 1, 0.1])
    np.testing.assert_array_equal(loaded.search(query, 4)[1], hand_made.search(query, 4)[1])
    with pytest.raises(ValueError, match="unique"):  # the id set survives the round trip
        loaded.add([20], _unit([1, 1, 1]))
    assert [p.name for p in path.parent.iterdir()] == ["index.faiss"]  # no temp files left


def test_load_rejects_other_model_or_dim(hand_made: FaissIndex, tmp_path: Path) -> None:
    path = tmp_path / "index.faiss"
    hand_made.save(path)
    with pytest.raises(StaleIndexError, match="other/v2"):
        FaissIndex.load(path, "other/v2", 3)
    with pytest.raises(StaleIndexError, match="dim 5"):
        FaissIndex.load(path, MODEL, 5)


@pytest.mark.parametrize("damage", ["truncate", "flip_payload", "garbage", "empty"])
def test_corrupt_file_gives_clear_error(hand_made: FaissIndex, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "index.faiss"
    hand_made.save(path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 40]
    elif damage == "flip_payload":
        data[-20] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"<html>not an index</html>")
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError, match="rebuild"):
        FaissIndex.load(path, MODEL, 3)


def test_rebuild_replaces_content(hand_made: FaissIndex) -> None:
    hand_made.rebuild([1, 2], _unit([0, 0, 1], [0, 1, 0]))
    assert len(hand_made) == 2
    assert hand_made.search(_unit([0, 0, 1]), 1)[1][0, 0] == 1


def test_switches_to_hnsw_above_threshold_and_keeps_neighbours(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # Clustered data, like embeddings (HNSW recall on uniform noise is meaningless).
    centres = rng.standard_normal((20, 32))
    vectors = (centres[rng.integers(0, 20, 600)] + 0.1 * rng.standard_normal((600, 32))).astype(
        np.float32
    )
    index = FaissIndex(MODEL, 32, hnsw_threshold=500)
    index.add(np.arange(400), vectors[:400])
    assert index.kind == "flat"
    index.add(np.arange(400, 600), vectors[400:])
    assert index.kind == "hnsw" and len(index) == 600
    _, ids = index.search(vectors[[5, 450]], k=1)
    assert ids[:, 0].tolist() == [5, 450]  # each vector finds itself
    index.save(tmp_path / "h.faiss")
    loaded = FaissIndex.load(tmp_path / "h.faiss", MODEL, 32)
    assert loaded.kind == "hnsw" and loaded.search(vectors[[7]], 1)[1][0, 0] == 7
