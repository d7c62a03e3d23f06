"""Local stand-ins for Ollama and OpenAI on 127.0.0.1 that answer in their real wire formats.

Bodies below are shaped after the APIs' documented answers (Ollama docs/api.md; OpenAI's
chat-completions reference and its error envelope), including Ollama's streamed NDJSON.
Each test sets `routes[(method, path)]` to a handler returning a `Reply`; every request is
kept in `requests` so a test can check what the client sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; list of dicts -> NDJSON lines, sent one by one
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Handler = Callable[[Seen], Reply]


class FakeLLMServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Seen] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                seen = Seen(
                    method, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                outer.requests.append(seen)
                handler = outer.routes.get((method, self.path))
                reply = handler(seen) if handler else Reply(404, {"error": "404 page not found"})
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    if isinstance(reply.body, list):
                        self.send_header("Content-Type", "application/x-ndjson")
                        self.end_headers()
                        for chunk in reply.body:
                            self.wfile.write(json.dumps(chunk).encode() + b"\n")
                            self.wfile.flush()
                    else:
                        data = (
                            reply.body
                            if isinstance(reply.body, bytes)
                            else json.dumps(reply.body).encode()
                        )
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="fake-llm", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


# ------------------------------------------------------------------ real-format answers

CREATED = "2025-03-14T21:30:00.000000Z"


def ollama_stream(text: str, model: str = "llava") -> list[dict[str, Any]]:
    words = text.split(" ")
    chunks: list[dict[str, Any]] = [
        {
            "model": model,
            "created_at": CREATED,
            "message": {"role": "assistant", "content": w + (" " if i < len(words) - 1 else "")},
            "done": False,
        }
        for i, w in enumerate(words)
    ]
    chunks.append(
        {
            "model": model,
            "created_at": CREATED,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 4883583458,
            "load_duration": 1334875,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 342546000,
            "eval_count": 282,
            "eval_duration": 4535599000,
        }
    )
    return chunks


def ollama_single(text: str, model: str = "llava") -> dict[str, Any]:
    return {
        "model": model,
        "created_at": CREATED,
        "message": {"role": "assistant", "content": text},
        "done": True,
        "done_reason": "stop",
        "total_duration": 5191566416,
        "eval_count": 298,
    }


def ollama_show(capabilities: list[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "modelfile": '# Modelfile generated by "ollama show"',
        "parameters": 'stop "USER:"',
        "template": "{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT: ",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama", "clip"],
            "parameter_size": "7B",
            "quantization_level": "Q4_0",
        },
        "model_info": {"general.architecture": "llama"},
    }
    if capabilities is not None:
        body["capabilities"] = capabilities
    return body


OLLAMA_TAGS = {
    "models": [
        {
            "name": "llava:latest",
            "model": "llava:latest",
            "modified_at": "2025-03-01T10:00:00.000000Z",
            "size": 4733363377,
            "digest": "8dd30f6b0cb19f555f2c7a7ebda861449ea2cc76bf1f44e262931f45fc81d081",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama", "clip"],
                "parameter_size": "7B",
                "quantization_level": "Q4_0",
            },
        },
        {
            "name": "llama3.2:latest",
            "model": "llama3.2:latest",
            "modified_at": "2025-03-01T10:00:00.000000Z",
            "size": 2019393189,
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        },
    ]
}


def ollama_not_found(model: str) -> dict[str, Any]:
    return {"error": f'model "{model}" not found, try pulling it first'}


def openai_completion(text: str, model: str = "gpt-4o-mini-2024-07-18") -> dict[str, Any]:
    return {
        "id": "chatcmpl-AbC123",
        "object": "chat.completion",
        "created": 1741987800,
        "model": model,
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1020, "completion_tokens": 96, "total_tokens": 1116},
    }


def openai_error(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


OPENAI_401 = openai_error(
    "Incorrect API key provided: sk-wrong. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    "invalid_request_error",
    "invalid_api_key",
)
OPENAI_429 = openai_error(
    "Rate limit reached for gpt-4o-mini in organization org-test on requests per min (RPM): "
    "Limit 3, Used 3, Requested 1. Please try again in 20s.",
    "requests",
    "rate_limit_exceeded",
)
OPENAI_NO_VISION = openai_error(
    "Invalid content type. image_url is only supported by certain models.",
    "invalid_request_error",
    None,
    "messages.[1].content.[1].type",
)
OPENAI_NO_MODEL = openai_error(
    "The model `gpt-9-vision` does not exist or you do not have access to it.",
    "invalid_request_error",
    "model_not_found",
)
