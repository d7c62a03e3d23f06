"""The API's bearer token: made on first use, kept in the keyring, or in a 0600 file when
there is no keyring. Blocking (keyring may talk D-Bus): call it from an executor."""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from astrolens.fileio import atomic

log = logging.getLogger(__name__)

SECRET_NAME = "api_token"
FILE_NAME = "api-token"


@dataclass(frozen=True, slots=True)
class ApiToken:
    value: str
    where: str  # "keyring (<backend>)" or the file's path


def _file(config_dir: Path) -> Path:
    return config_dir / FILE_NAME


def _write_private(path: Path, value: str) -> None:
    """Atomically, and never readable by others: the temp file is 0600 before the token
    is written into it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, value + "\n", mode=0o600)


def _read_file(path: Path) -> str | None:
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        return None
    if path.stat().st_mode & 0o077:
        log.warning("%s was readable by others; made it private (0600)", path)
        path.chmod(0o600)
    return value or None


def _keyring_backend() -> str:
    from astrolens.settings.secrets import keyring_backend_name

    try:
        return keyring_backend_name()
    except Exception:
        return "keyring"


def load_or_create(config_dir: Path, *, rotate: bool = False) -> ApiToken:
    from astrolens.settings.secrets import get_secret, set_secret

    new = secrets.token_urlsafe(32)
    got = get_secret(SECRET_NAME)
    if not got.error:
        if got.value and not rotate:
            return ApiToken(got.value, f"keyring ({_keyring_backend()})")
        stored = set_secret(SECRET_NAME, new)
        if not stored.error:
            with contextlib.suppress(FileNotFoundError):
                _file(config_dir).unlink()  # an old fallback copy must not outlive a rotation
            return ApiToken(new, f"keyring ({_keyring_backend()})")
        log.warning("keyring refused the API token (%s); using a private file", stored.error)
    path = _file(config_dir)
    current = None if rotate else _read_file(path)
    if current:
        return ApiToken(current, str(path))
    _write_private(path, new)
    return ApiToken(new, str(path))
