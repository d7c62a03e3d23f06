"""Issue 16, item 8: the NASA API key never reaches a log line, the HTTP cache, an error or a
status line; a plaintext keyring is refused and said so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from astrolens.domain.errors import UnreadableImageError
from astrolens.sources.apod import ApodSource
from tests.sources.fake_services import HTML_ERROR, FakeServices, online_configs

KEY = "nasa-personal-key-9f8e7d"


def _apod_with_html_answers(services: FakeServices) -> None:
    """The APOD JSON works; the pictures are a maintenance page served with 200."""
    original = services.route

    def route(path: str, q: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if path.startswith("/apod/image/"):
            return 200, "text/html", HTML_ERROR
        return original(path, q)

    services.route = route  # type: ignore[method-assign]


async def test_key_stays_out_of_logs_cache_errors_and_status(
    fake_services: FakeServices, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from astrolens.app.cli import install_log_redaction

    install_log_redaction()
    _apod_with_html_answers(fake_services)
    cache_dir = tmp_path / "cache" / "http"
    source = ApodSource(
        online_configs(fake_services)["apod"], api_key=lambda: KEY, cache_dir=cache_dir
    )
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        tasks = await source.plan(3)
        for task in tasks:
            # The pictures' own URLs carry the key too, as api.nasa.gov image links can.
            task = type(task)(
                task.source_id, f"{task.uri}?api_key={KEY}", task.cursor, task.sky, task.meta
            )
            try:
                await source.fetch(task)
            except UnreadableImageError as exc:
                errors.append(str(exc))
    status = source.status()
    await source.aclose()

    assert fake_services.requests_to("/planetary/apod")[0].query["api_key"] == [KEY]
    assert errors, "the HTML answers must fail"
    seen = [r.getMessage() for r in caplog.records] + errors + [status.message, status.describe()]
    assert any("api_key=***" in line for line in seen)
    assert not [line for line in seen if KEY in line]
    cached = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert not [p for p in cached if KEY.encode() in p.read_bytes()], "authenticated answer cached"


def test_plaintext_keyring_is_refused_and_said_so(tmp_path: Path) -> None:
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    from astrolens.settings.secrets import get_secret, set_secret

    plain = PlaintextKeyring()
    plain.file_path = str(tmp_path / "keyring_pass.cfg")  # type: ignore[misc]
    previous = keyring.get_keyring()
    keyring.set_keyring(plain)
    try:
        saved = set_secret("nasa_api_key", KEY)
        read = get_secret("nasa_api_key")
    finally:
        keyring.set_keyring(previous)
    assert saved.value is None and "no secure keyring" in saved.error
    assert "unencrypted" in saved.error and read.value is None
    assert not (tmp_path / "keyring_pass.cfg").exists()
