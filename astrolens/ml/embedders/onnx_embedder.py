"""EfficientNet-Lite0 on ONNX Runtime: the torch-free inference path (and the desktop bundle's).

Same preprocessing as the torch embedder (preprocess.to_array_batch reproduces to_batch in
numpy), same weights (exported from the checksummed .pth), same two outputs. Its embeddings
match the torch fp32 ones to cosine >= 0.999999 on real survey cutouts, so it carries the
torch embedder's model_id: vectors from either runtime may share one index.

Blocking (ONNX Runtime, numpy): call from the app's "ml" executor.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astrolens.domain.images import FloatImage
from astrolens.domain.ports import Matrix
from astrolens.ml.embedders.base import TTA, TTAS, LogitsMixin, embed_over_views
from astrolens.ml.embedders.efficientnet_lite import (
    ARCH,
    FEATURE_DIM,
    INPUT_SIZE,
    LITE_MEAN,
    LITE_STD,
    WEIGHTS_SHA256,
)
from astrolens.ml.embedders.errors import CorruptCheckpointError, ModelUnavailableError
from astrolens.ml.embedders.preprocess import dihedral_array_views, to_array_batch
from astrolens.ml.embedders.torch_runtime import usable_cores

log = logging.getLogger(__name__)


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


class OnnxLite0Embedder(LogitsMixin):
    """1280-d pooled features and ImageNet logits of EfficientNet-Lite0, run by ONNX Runtime.

    `search_dirs` are looked through in order for the exported graph (the app passes the
    bundle's resource folder first, then the user's models dir). If none has it and torch is
    installed, the graph is exported into `models_dir` on first use; without torch (the
    desktop bundle) a missing graph is a ModelUnavailableError.
    """

    def __init__(
        self,
        *,
        models_dir: Path,
        search_dirs: Sequence[Path] = (),
        model_path: Path | None = None,
        tta: TTA = "none",
        batch_size: int = 32,
        input_size: int = INPUT_SIZE,
        threads: int | None = None,
    ) -> None:
        if tta not in TTAS:
            raise ValueError(f"tta must be one of {TTAS}, not {tta!r}")
        if not 32 <= input_size <= 512:
            raise ValueError(f"input_size must be within 32..512, not {input_size}")
        self._models_dir = models_dir
        self._search_dirs = tuple(search_dirs)
        self._model_path = model_path
        self.tta: TTA = tta
        self.batch_size = batch_size
        self._input_size = input_size
        self._threads = threads
        self._session: Any = None
        self._lock = threading.Lock()
        # Same id as EfficientNetLite0Embedder (fp32): the runtime is not part of the vectors.
        self._model_id = (
            f"{ARCH}/imagenet@{WEIGHTS_SHA256[:8]}"
            + ("" if input_size == INPUT_SIZE else f"+r{input_size}")
            + ("+d8" if tta == "dihedral" else "")
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return FEATURE_DIM

    @property
    def input_size(self) -> int:
        return self._input_size

    @property
    def runtime(self) -> str:
        return "onnxruntime"

    def model_path(self) -> Path:
        """The verified .onnx file this embedder runs, exporting it first if it must."""
        from astrolens.ml.embedders.onnx_export import (
            export_efficientnet_lite0,
            onnx_file_name,
            verify_onnx_model,
        )

        if self._model_path is not None:
            verify_onnx_model(self._model_path, self._input_size)
            return self._model_path
        name = onnx_file_name(self._input_size)
        for folder in (*self._search_dirs, self._models_dir):
            candidate = folder / name
            if candidate.is_file():
                try:
                    verify_onnx_model(candidate, self._input_size)
                    return candidate
                except CorruptCheckpointError as exc:
                    log.warning("ignoring %s: %s", candidate, exc)
        if not torch_available():
            raise ModelUnavailableError(
                f"the ONNX model {name} is missing and torch, needed to export it, is not "
                "available in this build"
            )
        target = self._models_dir / name
        log.info("exporting %s to ONNX at %s (once)", ARCH, target)
        export_efficientnet_lite0(target, self._input_size)
        return target

    def load(self) -> None:
        """Open the ONNX Runtime session now (idempotent); otherwise the first embed does."""
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime as ort
            except ImportError as exc:
                raise ModelUnavailableError(
                    "onnxruntime is not installed: pip install onnxruntime, or use the torch "
                    "embedder (efficientnet-lite0 without +onnx)"
                ) from exc
            path = self.model_path()
            options = ort.SessionOptions()
            # Like torch_runtime: all usable cores for one batch, no inter-op pool, since the
            # app runs model work on one "ml" thread.
            wanted = self._threads or int(os.environ.get("ASTROLENS_ML_THREADS", "0") or 0)
            options.intra_op_num_threads = wanted or usable_cores()
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Idle intra-op threads sleep instead of spinning: the decode, thumbnail and store
            # threads share these cores, and a spinning thread burns the CPU they are waiting
            # for. A scan of the bench spent about 2 s of its 33 s of CPU spinning; a batch
            # of 32 is long enough that waking the threads costs nothing measurable.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            # The CPU arena keeps the largest batch's activations while the session is open.
            # Without it every batch maps and faults in its activations afresh: measured on
            # 256 bench images, 20 % more wall time and 4-6x the system time. The pipeline
            # closes the session after each cycle (`release`), which gives the arena back:
            # the idle agent is no larger with it (benchmarks/agent_memory.py, 340 vs 367 MB).
            # ASTROLENS_ONNX_ARENA=0 turns it off for memory-starved machines.
            arena = os.environ.get("ASTROLENS_ONNX_ARENA", "1") == "1"
            options.enable_cpu_mem_arena = arena
            try:
                self._session = ort.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
                raise CorruptCheckpointError(f"cannot open ONNX model {path}: {exc}") from exc

    def release(self) -> None:
        """Close the session until the next embed reopens it. ONNX Runtime's arena keeps
        about 350 MB after one batch of 32 (measured): an agent idle between cycles gives
        it back, for well under a second of re-opening per cycle. Call it on the thread
        that embeds (the app's "ml" executor), never during an embed."""
        with self._lock:
            self._session = None

    def embed(self, images: Sequence[FloatImage], tta: TTA | None = None) -> Matrix:
        """(N, 1280) float32, L2-normalised rows."""
        features, _ = self._run(images, tta or self.tta, want_logits=False)
        return features

    def _run(
        self, images: Sequence[FloatImage], tta: TTA, *, want_logits: bool
    ) -> tuple[Matrix, Matrix | None]:
        """Mirrors TorchEmbedder._run: per-view normalisation, then the mean over views."""
        if tta not in TTAS:
            raise ValueError(f"tta must be one of {TTAS}, not {tta!r}")
        self.load()
        if len(images) == 0:
            return np.zeros((0, FEATURE_DIM), np.float32), (
                np.zeros((0, 0), np.float32) if want_logits else None
            )
        return embed_over_views(
            images,
            self.batch_size,
            lambda chunk: to_array_batch(chunk, self._input_size, LITE_MEAN, LITE_STD),
            dihedral_array_views if tta == "dihedral" else lambda batch: [batch],
            lambda view: tuple(self._session.run(None, {"pixels": view})),
            want_logits=want_logits,
        )
