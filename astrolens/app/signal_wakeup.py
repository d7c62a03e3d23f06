"""Ctrl-C and SIGTERM for a Qt application, without a polling timer."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Callable

from PyQt6.QtCore import QObject, QSocketNotifier


class SignalWakeup(QObject):
    """SIGINT/SIGTERM reach Python only when it runs bytecode; Qt's loop sits in C. A
    socketpair + QSocketNotifier wakes it exactly when a signal arrives (no polling timer)."""

    def __init__(self, on_signal: Callable[[], None]) -> None:
        super().__init__()
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._old = signal.set_wakeup_fd(self._w.fileno())
        # PyQt6's stubs type the socket as sip.voidptr; at run time it takes the fd (an int).
        self.notifier = QSocketNotifier(
            self._r.fileno(),  # type: ignore[call-overload]
            QSocketNotifier.Type.Read,
            self,
        )
        self.notifier.activated.connect(self._drain)
        self.on_signal = on_signal
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)  # Python-level no-op: the fd does the work

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._r.recv(64)
        self.on_signal()

    def close(self) -> None:
        self.notifier.setEnabled(False)
        signal.set_wakeup_fd(self._old)
        self._r.close()
        self._w.close()
