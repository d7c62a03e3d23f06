"""Ollama's local HTTP API: `/api/chat` with base64 images (streamed NDJSON or one JSON),
`/api/tags` to list models and `/api/show` to ask whether a model has vision.

Wire format: https://github.com/ollama/ollama/blob/main/docs/api.md
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

import httpx

from astrolens.domain.annotation import AnnotationError, AnnotationFailure, AnnotationRequest
from astrolens.llm.errors import transport_error

PROVIDER = "ollama"
# Families whose projector reads images (for servers too old to report "capabilities").
_VISION_FAMILIES = frozenset({"clip", "mllama", "gemma3", "qwen25vl", "llava"})


# ---------------------------------------------------------------------- pure: requests


def chat_body(request: AnnotationRequest, model: str, *, stream: bool) -> dict[str, Any]:
    return {
        "model": model,
        "stream": stream,
        "messages": [
            {"role": "system", "content": request.system},
            {
                "role": "user",
                "content": request.prompt,
                "images": [base64.b64encode(request.png).decode("ascii")],
            },
        ],
        # low temperature: a description, not a story
        "options": {"temperature": 0.2},
    }


# ---------------------------------------------------------------------- pure: answers


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()[:300]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return str(data)[:300]


def error_for(status: int, body: bytes, model: str) -> AnnotationError:
    message = _error_message(body)
    low = message.lower()
    if status == 404 or ("not found" in low and "model" in low):
        return AnnotationError(
            AnnotationFailure.MODEL_MISSING,
            f"Ollama has no model {model!r}; pull it with `ollama pull {model}` "
            f"(Ollama said: {message})",
        )
    if "image" in low or "vision" in low or "multimodal" in low:
        return no_vision(model, message)
    return AnnotationError(
        AnnotationFailure.BAD_RESPONSE, f"Ollama answered HTTP {status}: {message}"
    )


def no_vision(model: str, detail: str = "") -> AnnotationError:
    said = f" (Ollama said: {detail})" if detail else ""
    return AnnotationError(
        AnnotationFailure.NO_VISION,
        f"the Ollama model {model!r} cannot see images{said}; use a vision model such as "
        "llava, llama3.2-vision or gemma3 (`astrolens annotate --list-models` lists yours)",
    )


def parse_chat(lines: Iterable[bytes | str], model: str) -> str:
    """The answer of `/api/chat`: one JSON object, or NDJSON chunks when streamed."""
    parts: list[str] = []
    done = False
    for raw in lines:
        line = raw.decode() if isinstance(raw, bytes) else raw
        if not line.strip():
            continue
        try:
            chunk = json.loads(line)
        except ValueError as exc:
            raise AnnotationError(
                AnnotationFailure.BAD_RESPONSE,
                f"Ollama sent something that is not JSON: {line[:120]!r}",
            ) from exc
        if "error" in chunk:
            raise error_for(500, json.dumps(chunk).encode(), model)
        parts.append(str((chunk.get("message") or {}).get("content") or ""))
        done = done or bool(chunk.get("done"))
    text = "".join(parts).strip()
    if not done:
        raise AnnotationError(
            AnnotationFailure.BAD_RESPONSE, "Ollama's answer stopped before it was done"
        )
    if not text:
        raise AnnotationError(
            AnnotationFailure.EMPTY,
            f"the Ollama model {model!r} returned an empty answer; try again or another model",
        )
    return text


def vision_models(tags: dict[str, Any]) -> list[str]:
    """The models of `/api/tags` that read images, judged by their families."""
    found = []
    for m in tags.get("models") or []:
        details = m.get("details") or {}
        families = set(details.get("families") or []) | {details.get("family") or ""}
        name = str(m.get("name") or m.get("model") or "")
        if families & _VISION_FAMILIES or "vision" in name or "llava" in name:
            found.append(name)
    return found


def has_vision(show: dict[str, Any]) -> bool | None:
    """From `/api/show`: True/False when the server reports capabilities, None when it is
    too old to say (then we ask and map its error)."""
    caps = show.get("capabilities")
    if not isinstance(caps, list):
        return None
    return "vision" in caps


# ---------------------------------------------------------------------- transport


class OllamaClient:
    def __init__(self, base_url: str, timeout_s: float = 120.0, *, stream: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.stream = stream

    def _client(self) -> httpx.AsyncClient:
        # connect fast (a local server is there or not); reading may take the whole budget
        timeout = httpx.Timeout(self.timeout_s, connect=min(5.0, self.timeout_s))
        return httpx.AsyncClient(base_url=self.base_url, timeout=timeout, trust_env=False)

    async def list_models(self) -> list[str]:
        try:
            async with self._client() as client:
                resp = await client.get("/api/tags")
        except httpx.TransportError as exc:
            raise transport_error(exc, PROVIDER, self.base_url, self.timeout_s) from exc
        if resp.status_code != 200:
            raise error_for(resp.status_code, resp.content, "")
        return vision_models(resp.json())

    async def annotate(self, request: AnnotationRequest, model: str) -> str:
        try:
            async with self._client() as client:
                show = await client.post("/api/show", json={"model": model})
                if show.status_code == 404:
                    raise error_for(404, show.content, model)
                if show.status_code == 200 and has_vision(show.json()) is False:
                    raise no_vision(model)
                body = chat_body(request, model, stream=self.stream)
                async with client.stream("POST", "/api/chat", json=body) as resp:
                    if resp.status_code != 200:
                        raise error_for(resp.status_code, await resp.aread(), model)
                    lines = [line async for line in resp.aiter_lines()]
        except httpx.TransportError as exc:
            raise transport_error(exc, PROVIDER, self.base_url, self.timeout_s) from exc
        return parse_chat(lines, model)
