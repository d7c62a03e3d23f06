"""One agent per data home, and a local socket later launches and scripts talk to it over.

A second `astrolens` launch asks the running one to show its window instead of starting a
second agent; `state`, `pause`, `resume` and `quit` let scripts (and the tests) drive it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject
from PyQt6.QtNetwork import QLocalServer, QLocalSocket

from astrolens.settings.paths import app_paths

log = logging.getLogger(__name__)


def instance_name(home: Path | None = None) -> str:
    """One agent per data home: two homes (e.g. tests) may run side by side."""
    root = str(home or app_paths().data_dir)
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "user"
    return f"astrolens-{user}-{hashlib.sha1(root.encode()).hexdigest()[:12]}"


def ask_running_instance(name: str, command: str, timeout_ms: int = 1500) -> str | None:
    """Send one command to a running agent; its answer, or None when none runs."""
    sock = QLocalSocket()
    sock.connectToServer(name)
    if not sock.waitForConnected(timeout_ms):
        return None
    sock.write(command.encode() + b"\n")
    sock.waitForBytesWritten(timeout_ms)
    answer = b""
    while sock.waitForReadyRead(timeout_ms):
        answer += bytes(sock.readAll().data())
        if answer.endswith(b"\n"):
            break
    sock.disconnectFromServer()
    return answer.decode().strip()


class InstanceServer(QObject):
    """Answers later launches: `show` focuses the window; `state`, `pause`, `resume` and
    `quit` let scripts (and the tests) drive the agent."""

    def __init__(self, name: str, handler: Callable[[str], str]) -> None:
        super().__init__()
        self.handler = handler
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        QLocalServer.removeServer(name)  # a stale socket from a crashed run
        if not self.server.listen(name):
            raise RuntimeError(f"cannot listen on {name}: {self.server.errorString()}")
        self.server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while (sock := self.server.nextPendingConnection()) is not None:
            sock.readyRead.connect(lambda s=sock: self._read(s))
            # A command sent with the connection may already sit in the buffer, its
            # readyRead gone by before the slot was connected (a busy loop): read it now.
            if sock.bytesAvailable():
                self._read(sock)

    def _read(self, sock: QLocalSocket) -> None:
        while sock.canReadLine():
            line = bytes(sock.readLine().data()).decode().strip()
            try:
                answer = self.handler(line)
            except Exception as exc:
                log.exception("instance command %r failed", line)
                answer = f"error: {exc}"
            sock.write(answer.encode() + b"\n")
            sock.flush()

    def close(self) -> None:
        self.server.close()
