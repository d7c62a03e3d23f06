"""Later launches and scripts talk to the running agent over a local socket: every answer
reaches them, however quickly it comes back."""

from __future__ import annotations

import threading
import time
import uuid

from PyQt6.QtCore import QCoreApplication, QEvent
from PyQt6.QtNetwork import QLocalSocket
from PyQt6.QtWidgets import QApplication

from astrolens.app.single_instance import InstanceServer, ask_running_instance, read_line


def _name() -> str:
    return f"astrolens-test-{uuid.uuid4().hex[:12]}"


def _spin_until(qapp: QApplication, done: threading.Event, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done.is_set() and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.001)


def test_an_answer_already_buffered_is_read_not_waited_for(qapp: QApplication) -> None:
    """The lost answer behind a flaky 'pause': Qt had read the agent's quick answer into the
    socket's buffer before the client began to wait for it."""
    name = _name()
    server = InstanceServer(name, lambda line: f"got {line}")
    try:
        sock = QLocalSocket()
        sock.connectToServer(name)
        assert sock.waitForConnected(1000)
        sock.write(b"pause\n")
        assert sock.waitForBytesWritten(1000)
        deadline = time.monotonic() + 5
        while sock.bytesAvailable() == 0 and time.monotonic() < deadline:
            qapp.processEvents()  # the server accepts and answers
            sock.waitForReadyRead(10)  # the client's Qt buffer takes the answer in
        assert sock.bytesAvailable() > 0
        started = time.monotonic()
        assert read_line(sock, 1500) == "got pause"
        assert time.monotonic() - started < 0.5  # taken from the buffer, not timed out
        sock.disconnectFromServer()
    finally:
        server.close()


def test_many_scripted_commands_all_get_their_answer(qapp: QApplication) -> None:
    name = _name()
    server = InstanceServer(name, lambda line: f"ok {line}")
    answers: list[str | None] = []
    done = threading.Event()

    def client() -> None:
        try:
            for i in range(40):
                answers.append(ask_running_instance(name, f"state {i}", timeout_ms=3000))
        finally:
            done.set()

    try:
        worker = threading.Thread(target=client)
        worker.start()
        _spin_until(qapp, done, timeout_s=60)
        worker.join(5)
        assert answers == [f"ok state {i}" for i in range(40)]
        # Each script's socket is let go once it hangs up: a 24/7 agent polled by a
        # script every few seconds must not keep them all.
        deadline = time.monotonic() + 5
        while server.server.findChildren(QLocalSocket) and time.monotonic() < deadline:
            qapp.processEvents()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        assert server.server.findChildren(QLocalSocket) == []
    finally:
        server.close()


def test_no_agent_running_gives_none() -> None:
    assert ask_running_instance(_name(), "state", timeout_ms=300) is None
