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
    """Send one command to a running agent; its answer, or None when none runs.

    An agent that is connected but has not answered within `timeout_ms` gives ""."""
    sock = QLocalSocket()
    sock.connectToServer(name)
    if not sock.waitForConnected(timeout_ms):
        return None
    sock.write(command.encode() + b"\n")
    sock.waitForBytesWritten(timeout_ms)
    answer = read_line(sock, timeout_ms)
    sock.disconnectFromServer()
    return answer


def read_line(sock: QLocalSocket, timeout_ms: int) -> str:
    """One answer line. Qt's blocking calls read whatever has arrived into the socket's
    buffer (waitForBytesWritten does too), and waitForReadyRead waits only for bytes that
    come after: so what is buffered is taken first, or a quick answer is missed."""
    answer = b""
    while not answer.endswith(b"\n"):
        if sock.bytesAvailable() > 0:
            answer += bytes(sock.readAll().data())
        elif not sock.waitForReadyRead(timeout_ms):
            break
    return answer.decode().strip()


class InstanceServer(QObject):
    """Answers later launches: `show` focuses the window; `state`, `pause`, `resume` and
    `quit` let scripts (and the tests) drive the agent."""

    def __init__(self, name: str, handler: Callable[[str], str]) -> None:
        super().__init__()
        self.handler = handler
        self._clients: set[QLocalSocket] = set()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        QLocalServer.removeServer(name)  # a stale socket from a crashed run
        if not self.server.listen(name):
            raise RuntimeError(f"cannot listen on {name}: {self.server.errorString()}")
        self.server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while (sock := self.server.nextPendingConnection()) is not None:
            # Held here until it disconnects, then deleted: the server would otherwise keep
            # every script's socket for the life of the agent.
            self._clients.add(sock)
            sock.readyRead.connect(self._on_ready_read)
            sock.disconnected.connect(self._on_disconnected)
            # A command sent with the connection may already sit in the buffer, its
            # readyRead gone by before the slot was connected (a busy loop): read it now.
            if sock.bytesAvailable():
                self._read(sock)

    def _on_ready_read(self) -> None:
        sock = self.sender()
        if isinstance(sock, QLocalSocket):
            self._read(sock)

    def _on_disconnected(self) -> None:
        sock = self.sender()
        if isinstance(sock, QLocalSocket):
            self._clients.discard(sock)
            sock.deleteLater()

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
