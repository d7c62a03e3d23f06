"""The LLM annotator's wiring: which provider, which model, which key, and what it is shown.

The controller calls `annotate_candidate`; the words go to Ollama or an OpenAI-compatible
server over async httpx on the loop; rendering the PNG and reading the keyring go to
executors. Every failure is an `AnnotationError` with a sentence for the user.
"""

from __future__ import annotations

from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from astrolens.domain.agent import AgentController
from astrolens.domain.annotation import (
    PROMPT_VERSION,
    PROVIDERS,
    Annotation,
    AnnotationError,
    AnnotationFailure,
    AnnotationRequest,
    build_request,
)
from astrolens.domain.settings import Settings
from astrolens.pipeline.executors import run_in

if TYPE_CHECKING:
    from astrolens.services.context import ServiceContext

# The PNG the model sees: big enough for morphology, small enough to send quickly.
PROMPT_IMAGE_PX = 768


class AnnotationClient(Protocol):
    async def annotate(self, request: AnnotationRequest, model: str) -> str: ...


def _openai_key(base_url: str) -> str | None:
    from astrolens.llm.openai_compat import needs_key
    from astrolens.settings.secrets import get_secret

    got = get_secret("openai_api_key")
    if got.error and not needs_key(base_url):
        # A local OpenAI-compatible server (LM Studio, vLLM) usually takes no key: a keyring
        # that cannot be used (none, or only a plain-text file) is no reason to refuse it.
        return None
    if got.error:
        raise AnnotationError(
            AnnotationFailure.NO_KEY, f"cannot read the OpenAI key from the keyring: {got.error}"
        )
    return got.value


async def make_client(settings: Settings, provider: str, io_executor: Executor) -> AnnotationClient:
    if provider == "ollama":
        from astrolens.llm.ollama import OllamaClient

        return OllamaClient(settings.ollama_url, settings.llm_timeout_s)
    if provider == "openai":
        from astrolens.llm.openai_compat import OpenAIClient

        # keyring may talk D-Bus: not on the loop
        key = await run_in(io_executor, _openai_key, settings.openai_base_url)
        return OpenAIClient(settings.openai_base_url, key, settings.llm_timeout_s)
    raise AnnotationError(
        AnnotationFailure.BAD_RESPONSE,
        f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}",
    )


async def annotate_candidate(
    controller: AgentController,
    app: ServiceContext,
    image_id: int,
    provider: str | None,
    model: str | None,
) -> Annotation:
    """Ask the model about one candidate; the Annotation to store (not stored here)."""
    settings: Settings = app.settings
    provider = provider or settings.llm_provider
    model = model or settings.llm_model_for(provider)
    candidate = await controller.get_candidate(image_id)
    if candidate is None:
        raise AnnotationError(
            AnnotationFailure.NO_IMAGE,
            f"no candidate with id {image_id}: only anomalies and near-misses are annotated",
        )
    png = await controller.image_png(image_id, "auto", PROMPT_IMAGE_PX)
    request = build_request(candidate, png or b"")
    client = await make_client(settings, provider, app.executors.io)
    text = await client.annotate(request, model)
    return Annotation(image_id, provider, model, PROMPT_VERSION, text, datetime.now(UTC))
