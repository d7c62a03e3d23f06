"""OpenAI chat completions, or any server that speaks them (LM Studio, vLLM, llama.cpp).

Plain httpx rather than the `openai` package: one small POST whose status codes we map to
words ourselves, and the same transport and timeouts as the Ollama client.
Wire format: https://platform.openai.com/docs/api-reference/chat/create
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlparse

import httpx

from astrolens.domain.annotation import AnnotationError, AnnotationFailure, AnnotationRequest
from astrolens.llm.errors import rate_limited, transport_error

PROVIDER = "openai"
OPENAI_HOST = "api.openai.com"


def needs_key(base_url: str) -> bool:
    """OpenAI itself always wants a key; a local server (LM Studio, vLLM) usually does not."""
    return urlparse(base_url).hostname == OPENAI_HOST


def chat_body(request: AnnotationRequest, model: str) -> dict[str, Any]:
    data_url = "data:image/png;base64," + base64.b64encode(request.png).decode("ascii")
    return {
        "model": model,
        "temperature": 0.2,
        "max_tokens": 400,
        "messages": [
            {"role": "system", "content": request.system},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": request.prompt},
                    {"type": "image_url", "image_url": {"url": data_url}},
                ],
            },
        ],
    }


def _error_detail(body: bytes) -> tuple[str, str]:
    """(message, code) from OpenAI's {"error": {"message", "type", "code"}} envelope."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()[:300], ""
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or ""), str(err.get("code") or err.get("type") or "")
    if isinstance(err, str):
        return err, ""
    return str(data)[:300], ""


def error_for(
    status: int, body: bytes, model: str, retry_after: str | None = None
) -> AnnotationError:
    message, code = _error_detail(body)
    low = message.lower()
    if status == 401:
        return AnnotationError(
            AnnotationFailure.UNAUTHORIZED,
            f"the OpenAI key was refused (401: {message}); set a valid one with "
            "`astrolens annotate --set-key` or in Settings",
        )
    if status == 429:
        if code == "insufficient_quota":
            return AnnotationError(
                AnnotationFailure.RATE_LIMITED, f"the OpenAI account has no quota left: {message}"
            )
        return rate_limited(PROVIDER, retry_after, message)
    if status == 404 or code == "model_not_found":
        return AnnotationError(
            AnnotationFailure.MODEL_MISSING,
            f"the server has no model {model!r} ({message}); pick another with --model",
        )
    if status == 400 and ("image" in low or "vision" in low or "multimodal" in low):
        return AnnotationError(
            AnnotationFailure.NO_VISION,
            f"the model {model!r} cannot see images ({message}); use a vision model such as "
            "gpt-4o-mini",
        )
    return AnnotationError(
        AnnotationFailure.BAD_RESPONSE, f"the OpenAI-compatible server answered {status}: {message}"
    )


def parse_chat(data: Any, model: str) -> str:
    try:
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise AnnotationError(
            AnnotationFailure.BAD_RESPONSE, f"unexpected chat-completions answer: {str(data)[:200]}"
        ) from exc
    if isinstance(content, list):  # some servers answer in content parts
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    text = str(content or "").strip()
    if not text:
        refusal = choice.get("message", {}).get("refusal")
        why = f" (refusal: {refusal})" if refusal else ""
        raise AnnotationError(
            AnnotationFailure.EMPTY, f"the model {model!r} returned an empty answer{why}"
        )
    return text


class OpenAIClient:
    def __init__(self, base_url: str, api_key: str | None, timeout_s: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    async def annotate(self, request: AnnotationRequest, model: str) -> str:
        if not self.api_key and needs_key(self.base_url):
            raise AnnotationError(
                AnnotationFailure.NO_KEY,
                "no OpenAI API key: set one with `astrolens annotate --set-key` or in Settings "
                "(it is kept in the system keyring)",
            )
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        timeout = httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s))
        try:
            async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
                resp = await client.post(
                    f"{self.base_url}/chat/completions",
                    json=chat_body(request, model),
                    headers=headers,
                )
        except httpx.TransportError as exc:
            raise transport_error(exc, PROVIDER, self.base_url, self.timeout_s) from exc
        if resp.status_code != 200:
            raise error_for(resp.status_code, resp.content, model, resp.headers.get("retry-after"))
        try:
            data = resp.json()
        except ValueError as exc:
            raise AnnotationError(
                AnnotationFailure.BAD_RESPONSE,
                f"the server sent something that is not JSON: {resp.text[:120]!r}",
            ) from exc
        return parse_chat(data, model)
