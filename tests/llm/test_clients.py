"""The Ollama and OpenAI clients against local servers speaking the real wire formats:
the happy paths (streamed NDJSON, one JSON, chat completions) and every failure in words."""

from __future__ import annotations

import base64
import io
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from astrolens.domain.annotation import AnnotationError, AnnotationFailure, build_request
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogObject, CatalogVerdict, CrossMatch, MatchStatus
from astrolens.domain.images import ImageGroup, ImageRecord, Provenance
from astrolens.domain.scoring import ScoreResult, Thresholds, Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.llm.ollama import OllamaClient
from astrolens.llm.openai_compat import OpenAIClient
from tests.llm.fake_llm import (
    OLLAMA_TAGS,
    OPENAI_401,
    OPENAI_429,
    OPENAI_NO_MODEL,
    OPENAI_NO_VISION,
    FakeLLMServer,
    Reply,
    ollama_not_found,
    ollama_show,
    ollama_single,
    ollama_stream,
    openai_completion,
)

ANSWER = (
    "Morphology: a face-on spiral with a bright core. Artefact?: no trail or spike. "
    "Next: check the SIMBAD match at 1.2 arcsec."
)


@pytest.fixture
def request_(shared_data: Path):
    from PIL import Image

    demo = sorted((shared_data / "demo").glob("anomaly__*.jpg"))[0]
    buf = io.BytesIO()
    with Image.open(demo) as img:
        img.convert("RGB").save(buf, format="PNG")
    sky = SkyPosition(150.1, 2.2)
    candidate = Candidate(
        image=ImageRecord(
            id=7,
            content_hash="c" * 64,
            perceptual_hash="0" * 16,
            provenance=Provenance("legacy-survey", demo.as_uri(), "ls-dr10", "grz", 0.262, sky),
            width=256,
            height=256,
            group=ImageGroup.SURVEY,
            created_at=datetime(2025, 3, 14, tzinfo=UTC),
        ),
        result=ScoreResult(
            score=3.21,
            p_value=0.0012,
            verdict=Verdict.ANOMALY,
            detector_scores={"knn": 3.4, "mahalanobis": 2.9},
            calibration_version=3,
            thresholds=Thresholds(0.004, 0.03),
        ),
        model_id="efficientnet-lite0",
        crossmatches=(
            CrossMatch(
                "simbad",
                MatchStatus.MATCH,
                6.0,
                (CatalogObject("SDSS J100024+021200", "G", sky, 1.2, 0.04, "simbad"),),
            ),
            CrossMatch("ned", MatchStatus.ERROR, 6.0, reason="ConnectionError: offline"),
        ),
        catalog_verdict=CatalogVerdict.KNOWN_OBJECT,
    )
    return build_request(candidate, buf.getvalue())


@pytest.fixture
def server():
    with FakeLLMServer() as srv:
        yield srv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_prompt_carries_scores_p_value_matches_and_asks_for_artefacts(request_):
    p = request_.prompt
    assert "p-value 0.0012" in p and "score 3.210" in p and "knn 3.400" in p
    assert "SDSS J100024+021200" in p and "1.2 arcsec" in p
    assert "ned: error (ConnectionError: offline)" in p
    assert "satellite trail" in p and "diffraction spike" in p and "check next" in p
    assert request_.png.startswith(b"\x89PNG")


# ---------------------------------------------------------------------- Ollama


async def test_ollama_streamed_ndjson(server, request_):
    server.routes["POST", "/api/show"] = lambda r: Reply(body=ollama_show(["completion", "vision"]))
    server.routes["POST", "/api/chat"] = lambda r: Reply(body=ollama_stream(ANSWER))
    text = await OllamaClient(server.url, 10).annotate(request_, "llava")
    assert text == ANSWER
    chat = next(r for r in server.requests if r.path == "/api/chat")
    assert chat.body["model"] == "llava" and chat.body["stream"] is True
    user = chat.body["messages"][1]
    assert base64.b64decode(user["images"][0]) == request_.png
    assert "p-value 0.0012" in user["content"]


async def test_ollama_single_json_from_an_old_server_without_capabilities(server, request_):
    server.routes["POST", "/api/show"] = lambda r: Reply(body=ollama_show(None))
    server.routes["POST", "/api/chat"] = lambda r: Reply(body=ollama_single(ANSWER))
    client = OllamaClient(server.url, 10, stream=False)
    assert await client.annotate(request_, "llava") == ANSWER


async def test_ollama_not_running(request_):
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(AnnotationError) as err:
        await OllamaClient(url, 5).annotate(request_, "llava")
    assert err.value.kind is AnnotationFailure.NOT_RUNNING
    assert "not reachable" in str(err.value) and "ollama serve" in str(err.value)


async def test_ollama_model_not_pulled_is_a_404_in_words(server, request_):
    server.routes["POST", "/api/show"] = lambda r: Reply(404, ollama_not_found("llava"))
    with pytest.raises(AnnotationError) as err:
        await OllamaClient(server.url, 5).annotate(request_, "llava")
    assert err.value.kind is AnnotationFailure.MODEL_MISSING
    assert "ollama pull llava" in str(err.value)


async def test_ollama_chat_404_too(server, request_):
    # a server that answers /api/show but whose model vanished before the chat
    server.routes["POST", "/api/show"] = lambda r: Reply(body=ollama_show(["completion", "vision"]))
    server.routes["POST", "/api/chat"] = lambda r: Reply(404, ollama_not_found("llava"))
    with pytest.raises(AnnotationError) as err:
        await OllamaClient(server.url, 5).annotate(request_, "llava")
    assert err.value.kind is AnnotationFailure.MODEL_MISSING


async def test_ollama_model_without_vision(server, request_):
    server.routes["POST", "/api/show"] = lambda r: Reply(body=ollama_show(["completion"]))
    with pytest.raises(AnnotationError) as err:
        await OllamaClient(server.url, 5).annotate(request_, "llama3.2")
    assert err.value.kind is AnnotationFailure.NO_VISION
    assert "cannot see images" in str(err.value)
    assert not any(r.path == "/api/chat" for r in server.requests)  # it did not even ask


async def test_ollama_timeout(server, request_):
    server.routes["POST", "/api/show"] = lambda r: Reply(body=ollama_show(["vision"]))
    server.routes["POST", "/api/chat"] = lambda r: Reply(body=ollama_single(ANSWER), delay_s=3)
    with pytest.raises(AnnotationError) as err:
        await OllamaClient(server.url, 0.5).annotate(request_, "llava")
    assert err.value.kind is AnnotationFailure.TIMEOUT
    assert "did not answer within" in str(err.value)


async def test_ollama_empty_answer_is_never_a_silent_empty_annotation(server, request_):
    server.routes["POST", "/api/show"] = lambda r: Reply(body=ollama_show(["vision"]))
    server.routes["POST", "/api/chat"] = lambda r: Reply(body=ollama_stream(""))
    with pytest.raises(AnnotationError) as err:
        await OllamaClient(server.url, 5).annotate(request_, "llava")
    assert err.value.kind is AnnotationFailure.EMPTY


async def test_ollama_error_mid_stream(server, request_):
    server.routes["POST", "/api/show"] = lambda r: Reply(body=ollama_show(["vision"]))
    chunks = [
        *ollama_stream("The core")[:2],
        {"error": "an error was encountered while running the model: out of memory"},
    ]
    server.routes["POST", "/api/chat"] = lambda r: Reply(body=chunks)
    with pytest.raises(AnnotationError) as err:
        await OllamaClient(server.url, 5).annotate(request_, "llava")
    assert "out of memory" in str(err.value)


async def test_ollama_lists_only_vision_models(server):
    server.routes["GET", "/api/tags"] = lambda r: Reply(body=OLLAMA_TAGS)
    assert await OllamaClient(server.url, 5).list_models() == ["llava:latest"]


# ---------------------------------------------------------------------- OpenAI-compatible


async def test_openai_chat_completion(server, request_):
    server.routes["POST", "/v1/chat/completions"] = lambda r: Reply(body=openai_completion(ANSWER))
    text = await OpenAIClient(server.url + "/v1", "sk-test", 10).annotate(request_, "gpt-4o-mini")
    assert text == ANSWER
    sent = server.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-test"
    content = sent.body["messages"][1]["content"]
    assert content[0]["type"] == "text" and "p-value 0.0012" in content[0]["text"]
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == request_.png


async def test_a_local_openai_compatible_server_needs_no_key(server, request_):
    # LM Studio / vLLM: no key, base URL on this machine
    server.routes["POST", "/v1/chat/completions"] = lambda r: Reply(body=openai_completion(ANSWER))
    assert await OpenAIClient(server.url + "/v1", None, 10).annotate(request_, "qwen2-vl") == ANSWER
    assert "authorization" not in server.requests[-1].headers


async def test_openai_without_a_key(request_):
    with pytest.raises(AnnotationError) as err:
        await OpenAIClient("https://api.openai.com/v1", None, 5).annotate(request_, "gpt-4o-mini")
    assert err.value.kind is AnnotationFailure.NO_KEY
    assert "keyring" in str(err.value)


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "words"),
    [
        (401, OPENAI_401, {}, AnnotationFailure.UNAUTHORIZED, "key was refused"),
        (429, OPENAI_429, {"retry-after": "20"}, AnnotationFailure.RATE_LIMITED, "retry in 20 s"),
        (400, OPENAI_NO_VISION, {}, AnnotationFailure.NO_VISION, "cannot see images"),
        (404, OPENAI_NO_MODEL, {}, AnnotationFailure.MODEL_MISSING, "has no model"),
    ],
)
async def test_openai_failures_in_words(server, request_, status, body, headers, kind, words):
    server.routes["POST", "/v1/chat/completions"] = lambda r: Reply(status, body, headers)
    with pytest.raises(AnnotationError) as err:
        await OpenAIClient(server.url + "/v1", "sk-x", 5).annotate(request_, "gpt-4o-mini")
    assert err.value.kind is kind
    assert words in str(err.value)
    if status == 429:
        assert err.value.retry_after_s == 20


async def test_openai_timeout_and_not_running(server, request_):
    server.routes["POST", "/v1/chat/completions"] = lambda r: Reply(
        body=openai_completion(ANSWER), delay_s=3
    )
    with pytest.raises(AnnotationError) as err:
        await OpenAIClient(server.url + "/v1", "sk-x", 0.5).annotate(request_, "gpt-4o-mini")
    assert err.value.kind is AnnotationFailure.TIMEOUT
    with pytest.raises(AnnotationError) as err:
        url = f"http://127.0.0.1:{_free_port()}/v1"
        await OpenAIClient(url, "sk-x", 5).annotate(request_, "gpt-4o-mini")
    assert err.value.kind is AnnotationFailure.NOT_RUNNING


async def test_openai_empty_content_is_an_error(server, request_):
    server.routes["POST", "/v1/chat/completions"] = lambda r: Reply(body=openai_completion(""))
    with pytest.raises(AnnotationError) as err:
        await OpenAIClient(server.url + "/v1", "sk-x", 5).annotate(request_, "gpt-4o-mini")
    assert err.value.kind is AnnotationFailure.EMPTY
