"""uvicorn inside the agent's own asyncio loop (qasync in the tray, asyncio headless).

No second process and no thread: the server is one named task on the running loop. It binds
127.0.0.1 (and ::1 when the machine has IPv6) itself, whatever the settings say, and never
installs signal handlers (the agent owns SIGINT/SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import logging
import socket
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING

from astrolens.domain.errors import ConfigurationError

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from astrolens.app.api.routes import ApiController

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
STOP_GRACE_S = 5.0


def bind_loopback(port: int) -> list[socket.socket]:
    """Listening sockets on 127.0.0.1 and ::1; port 0 picks a free one (the same for both).

    A port in use is a ConfigurationError that says so, never a silent move elsewhere.
    """
    v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        v4.bind(("127.0.0.1", port))
    except OSError as exc:
        v4.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"port {port} on 127.0.0.1 is already in use (another AstroLens, or another "
                "program); choose another with --port N or the api_port setting"
            ) from exc
        raise
    v4.listen(128)
    v4.setblocking(False)
    sockets = [v4]
    chosen = v4.getsockname()[1]
    if socket.has_ipv6:
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::1", chosen))
            v6.listen(128)
            v6.setblocking(False)
            sockets.append(v6)
        except OSError as exc:  # no IPv6 loopback here, or the v6 port is taken: v4 serves
            log.info("API not on [::1]:%d (%s); 127.0.0.1 only", chosen, exc)
            v6.close()
    return sockets


def _build_api(controller: ApiController, token: str) -> FastAPI:
    # Importing FastAPI and building the routes' pydantic models takes a few hundred ms:
    # done in a worker thread, so the loop (the GUI thread in the tray) keeps turning.
    from astrolens.app.api.routes import create_api

    return create_api(controller, token)


class ApiServer:
    """Serve the API over `controller` on loopback, as a task of the current loop."""

    def __init__(self, controller: ApiController, token: str, port: int = DEFAULT_PORT) -> None:
        self.controller = controller
        self.token = token
        self.requested_port = port
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sockets: list[socket.socket] = []
        self._api: FastAPI | None = None
        self.token_where = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [s.getsockname()[:2] for s in self._sockets]

    async def start(self) -> int:
        # FastAPI, pydantic and uvicorn take a few hundred ms to import: not on the loop
        # (in the tray it is the GUI thread).
        await asyncio.to_thread(importlib.import_module, "uvicorn")
        import uvicorn

        class _InLoopServer(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield  # the agent handles signals; uvicorn must not replace its handlers

            def install_signal_handlers(self) -> None:  # older uvicorn spelling
                return None

        self._sockets = bind_loopback(self.requested_port)
        self.port = self._sockets[0].getsockname()[1]
        self._api = await asyncio.to_thread(_build_api, self.controller, self.token)
        config = uvicorn.Config(
            self._api,
            lifespan="off",
            http="h11",
            ws="none",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            # scripts keep connections in a pool: a busy agent must not close them under
            # a request in flight (uvicorn's 5 s default raced clients under load)
            timeout_keep_alive=60,
            server_header=False,
        )
        self._server = _InLoopServer(config)
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=self._sockets), name="astrolens-api"
        )
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise RuntimeError("the API server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("API listening on %s", ", ".join(f"{h}:{p}" for h, p in self.addresses))
        return self.port

    async def stop(self) -> None:
        if self._task is None or self._server is None or self._api is None:
            return  # not started (start sets all three before the task)
        self._api.state.hub.close()  # end the event streams, or shutdown waits for them
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_S)
        except TimeoutError:
            log.warning("the API did not stop within %.0f s; cancelling it", STOP_GRACE_S)
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        finally:
            for sock in self._sockets:
                sock.close()
            self._task = None


async def start_api(
    controller: ApiController, config_dir: Path, port: int, io_executor: Executor | None = None
) -> ApiServer:
    """Read (or make) the token off the loop, then serve."""
    from astrolens.app.api.token import load_or_create

    token = await asyncio.get_running_loop().run_in_executor(
        io_executor, load_or_create, config_dir
    )
    server = ApiServer(controller, token.value, port)
    server.token_where = token.where
    await server.start()
    return server
