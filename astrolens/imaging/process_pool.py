"""Large frames decode in worker processes; survey stamps stay on the caller's thread.

A frame (a CCD image, a plate scan, a wide photo) costs 0.1-1 s to decode: FITS parsing, a
stretch, source extraction with sep and 64 stamps cut and hashed. Much of that holds the GIL
(sep's extraction, the per-stamp Python), so on the app's io threads it also stalls the thread
that feeds the network. In a worker process it runs beside the embedder on another core. A
small stamp (a few tens of KB) decodes in about a millisecond, less than pickling its result
across processes would cost, so it stays where it is.

Workers start with the "spawn" method on every platform: forking a process that already runs
Qt, ONNX Runtime and a dozen threads is unsafe. They are started on the first large file and
stopped again after `idle_s` without one, so an idle agent holds no extra processes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from astrolens.domain.images import DecodedImage, RawImage
from astrolens.imaging.decoder import DecoderConfig, ImageDecoder

log = logging.getLogger(__name__)

# Below this many bytes a file is a stamp, not a frame: survey cutouts are 5-150 KB, and the
# smallest frames we meet (a 512 px 16-bit FITS) are about 0.5 MB.
DEFAULT_MIN_BYTES = 256 * 1024

_worker_decoder: ImageDecoder | None = None


def _start_worker(config: DecoderConfig) -> None:
    global _worker_decoder
    _worker_decoder = ImageDecoder(config)


def _decode_in_worker(raw: RawImage) -> list[DecodedImage]:
    assert _worker_decoder is not None, "the pool initializer builds the decoder"
    return _worker_decoder.decode(raw)


def default_workers() -> int:
    """One worker per core beyond two: the embedder keeps one core busy and the io threads
    and the loop another. On two cores there is no core to spare, and measured there
    (benchmarks/frames_scan.py) one worker saved 4-10 % on 12 synthetic 1024-px frames but
    cost 4-14 % on the 8 real frames of the demo, its start-up not paid back: so none.
    ASTROLENS_DECODE_WORKERS overrides it (0 decodes every file in-process)."""
    wanted = os.environ.get("ASTROLENS_DECODE_WORKERS", "").strip()
    if wanted.isdigit():
        return int(wanted)
    return max(0, (os.cpu_count() or 1) - 2)


class PooledDecoder:
    """Implements astrolens.domain.ports.Decoder. Thread-safe; blocking like ImageDecoder."""

    def __init__(
        self,
        decoder: ImageDecoder | None = None,
        *,
        workers: int | None = None,
        min_bytes: int = DEFAULT_MIN_BYTES,
        idle_s: float = 60.0,
    ) -> None:
        self._decoder = decoder or ImageDecoder()
        self.workers = default_workers() if workers is None else workers
        self.min_bytes = min_bytes
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._busy = 0
        self._last_used = 0.0
        self._idle_timer: threading.Timer | None = None
        self.pooled_files = 0  # how many files went to a worker (for tests and logs)

    @property
    def config(self) -> DecoderConfig:
        return self._decoder.config

    def decode(self, raw: RawImage) -> list[DecodedImage]:
        size = len(raw.data) + sum(len(b) for b in raw.companions.values())
        if self.workers <= 0 or size < self.min_bytes:
            return self._decoder.decode(raw)
        pool = self._acquire()
        try:
            return pool.submit(_decode_in_worker, raw).result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): say so, drop the pool, decode here.
            log.warning("a decode worker died on %s; decoding it in-process", raw.name)
            self._discard(pool)
            return self._decoder.decode(raw)
        finally:
            self._release()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the workers (idempotent): queued files are cancelled, a file being decoded
        gets `timeout_s` to finish, then its worker is terminated. Returns when no worker
        process and no pool thread is left, so nothing outlives the app."""
        with self._lock:
            pool, self._pool = self._pool, None
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
        if pool is not None:
            _stop(pool, timeout_s)

    # -- the pool's life ---------------------------------------------------------------------

    def _acquire(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                log.info("starting %d decode worker process(es) for large frames", self.workers)
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self._decoder.config,),
                )
            self.pooled_files += 1
            self._busy += 1
            return self._pool

    def _release(self) -> None:
        with self._lock:
            self._busy -= 1
            self._last_used = time.monotonic()
            if self._busy == 0 and self._pool is not None and self._idle_timer is None:
                self._arm_idle_timer(self.idle_s)

    def _arm_idle_timer(self, delay_s: float) -> None:
        """Call with the lock held: check for idleness in `delay_s`."""
        self._idle_timer = threading.Timer(delay_s, self._stop_if_idle)
        self._idle_timer.name = "astrolens-decode-idle"
        self._idle_timer.daemon = True
        self._idle_timer.start()

    def _stop_if_idle(self) -> None:
        with self._lock:
            self._idle_timer = None
            idle_for = time.monotonic() - self._last_used
            if self._busy or self._pool is None:
                return
            if idle_for < self.idle_s:  # used again since the timer started: wait the rest
                self._arm_idle_timer(self.idle_s - idle_for)
                return
            pool, self._pool = self._pool, None
        log.info("stopping the idle decode workers")
        _stop(pool, 5.0)

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        _stop(pool, 5.0)


def _stop(pool: ProcessPoolExecutor, timeout_s: float) -> None:
    """Shut a pool down within `timeout_s`: cancel what is queued, let a running decode end,
    terminate a worker that does not, and wait for the pool's manager thread (a non-daemon
    thread that would otherwise outlive the app's quit)."""
    # The executor keeps its worker processes and manager thread in private attributes; read
    # them defensively, since shutdown(wait=True) alone has no time limit.
    workers = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + timeout_s
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    for worker in workers:
        if worker.is_alive():
            log.warning(
                "decode worker %s did not stop in %.0f s: terminating it", worker.pid, timeout_s
            )
            worker.terminate()
            worker.join(1.0)
    if manager is not None:
        manager.join(max(0.5, deadline - time.monotonic()))
