"""Lazy torch import and one-time thread set-up.

torch costs seconds to import, so nothing imports it at module level: the tray must appear
before any model is loaded. Every embedder calls `torch_module()` on first use.
"""

from __future__ import annotations

import contextlib
import os
import threading
from types import ModuleType

_lock = threading.Lock()
_configured = False


def usable_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity, unlike cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def torch_module() -> ModuleType:
    """Import torch and, once per process, size its thread pools.

    Intra-op threads = usable cores: on the 2-core target machine both cores serve one batch.
    Inter-op threads = 1, since the app runs all model work in a single "ml" executor thread and
    extra inter-op threads would only fight the decode/IO threads for the same cores.
    `ASTROLENS_TORCH_THREADS` overrides the intra-op count (e.g. to leave a core for the UI).
    """
    global _configured
    try:
        import torch
    except ImportError as exc:
        # The desktop bundle ships ONNX Runtime instead of torch (see onnx_export.py): every
        # torch-only feature (open_clip, bf16, fine-tuning) ends here with one clear line.
        from astrolens.ml.embedders.errors import ModelUnavailableError

        raise ModelUnavailableError(
            "torch is not available in this build: this feature needs a source install "
            "(pip install astrolens); the default embedder runs on ONNX Runtime"
        ) from exc

    with _lock:
        if not _configured:
            wanted = os.environ.get("ASTROLENS_TORCH_THREADS")
            torch.set_num_threads(int(wanted) if wanted else usable_cores())
            # Raises if the inter-op pool already started: harmless, keep that setting.
            with contextlib.suppress(RuntimeError):
                torch.set_num_interop_threads(1)
            _configured = True
    return torch


def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs with AVX512-BF16 or AMX (Linux), where bf16 autocast is fast.

    Elsewhere bf16 is emulated and slower than fp32, so callers should stay with fp32.
    Read from /proc/cpuinfo so that the answer costs no torch import.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False
