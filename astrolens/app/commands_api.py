"""`astrolens serve`, `astrolens api-token` and `astrolens annotate`: the local API and the
LLM annotator from the command line. Both go through the same AgentRuntime as the window."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from astrolens.app.context import AppOptions, AstroLensApp
from astrolens.domain.annotation import PROVIDERS, AnnotationError
from astrolens.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from astrolens.app.agent import AgentRuntime
    from astrolens.app.api.server import ApiServer
    from astrolens.domain.annotation import Annotation


def add_api_flags(parser: argparse.ArgumentParser) -> None:
    """`--api [--port N]` for the tray agent and `run --headless`."""
    parser.add_argument(
        "--api", action="store_true", help="also serve the local REST API (127.0.0.1 only)"
    )
    parser.add_argument("--port", type=int, metavar="N", help="API port (default: settings, 8765)")


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_common: Callable[[argparse.ArgumentParser], None],
) -> None:
    serve = sub.add_parser("serve", help="serve the local REST API over the archive (no discovery)")
    add_common(serve)
    serve.add_argument("--port", type=int, metavar="N", help="default: settings, 8765; 0: any")

    token = sub.add_parser("api-token", help="show (or --rotate) the local API's bearer token")
    add_common(token)
    token.add_argument("--rotate", action="store_true", help="make a new token; the old stops")

    ann = sub.add_parser("annotate", help="ask an LLM (Ollama or OpenAI) to describe a candidate")
    add_common(ann)
    ann.add_argument("id", type=int, nargs="?")
    ann.add_argument("--provider", choices=PROVIDERS, help="default: settings (ollama)")
    ann.add_argument("--model", help="default: settings, else llava / gpt-4o-mini")
    ann.add_argument("--list-models", action="store_true", help="the vision models your Ollama has")
    ann.add_argument(
        "--set-key", action="store_true", help="store an OpenAI API key in the keyring (prompted)"
    )


def api_port(args: argparse.Namespace, app: AstroLensApp) -> int:
    port = args.port if getattr(args, "port", None) is not None else app.settings.api_port
    if not 0 <= port <= 65535:
        raise ConfigurationError(f"--port must be 0-65535, not {port}")
    return int(port)


async def wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def announce(server: ApiServer, where: str) -> None:
    print(
        f"AstroLens API on {server.url} (docs: {server.url}/docs); token in {where}: "
        "`astrolens api-token` shows it",
        flush=True,
    )


async def serve_with(
    runtime: AgentRuntime, app: AstroLensApp, port: int, until: Awaitable[object]
) -> None:
    """Serve the API over `runtime` until `until` (an awaitable) finishes; then stop both."""
    from astrolens.app.api.server import start_api

    server = await start_api(runtime, app.paths.config_dir, port, app.executors.io)
    announce(server, server.token_where)
    try:
        await until
    finally:
        await server.stop()
        await runtime.shutdown()


def serve(args: argparse.Namespace) -> int:
    from astrolens.app.agent import AgentRuntime

    app = AstroLensApp(options=AppOptions(crossmatch=True))
    port = api_port(args, app)
    runtime = AgentRuntime(app)  # not started: no discovery, only the archive

    async def main() -> None:
        await serve_with(runtime, app, port, wait_for_signal())

    try:
        asyncio.run(main())
    finally:
        app.close()
    return 0


def api_token(args: argparse.Namespace) -> int:
    from astrolens.app.api.token import load_or_create
    from astrolens.settings.paths import app_paths

    paths = app_paths().ensure()
    token = load_or_create(paths.config_dir, rotate=args.rotate)
    if args.rotate:
        print(
            "A new token; the old one no longer works (restart a running API to use it).",
            file=sys.stderr,
        )
    print(f"kept in {token.where}", file=sys.stderr)
    print(token.value)
    return 0


def annotate(args: argparse.Namespace) -> int:
    from astrolens.app.agent import AgentRuntime

    if args.set_key:
        from astrolens.settings.secrets import set_secret

        key = getpass.getpass("OpenAI API key (not echoed): ").strip()
        error = set_secret("openai_api_key", key or None).error
        if error:
            raise ConfigurationError(f"could not store the key: {error}")
        print("stored in the keyring" if key else "removed from the keyring")
        return 0
    app = AstroLensApp()
    if args.list_models:
        return _list_models(app)
    if args.id is None:
        raise ConfigurationError("give a candidate id (see `astrolens candidates`)")
    runtime = AgentRuntime(app)

    async def go() -> Annotation:
        try:
            return await runtime.annotate(args.id, args.provider, args.model)
        finally:
            await runtime.shutdown()

    try:
        found = asyncio.run(go())
    except AnnotationError as exc:
        print(f"astrolens: annotation failed: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        app.close()
    print(f"#{found.image_id} by {found.provider}/{found.model} (prompt v{found.prompt_version}):")
    print(found.text)
    return 0


def _list_models(app: AstroLensApp) -> int:
    from astrolens.llm.ollama import OllamaClient

    try:
        client = OllamaClient(app.settings.ollama_url, app.settings.llm_timeout_s)
        models = asyncio.run(client.list_models())
    except AnnotationError as exc:
        print(f"astrolens: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        app.close()
    if not models:
        print("Ollama has no vision model; try `ollama pull llava`")
    for name in models:
        print(name)
    return 0
