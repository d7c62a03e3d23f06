"""API keys in the system keyring (Keychain, Credential Manager, Secret Service).

A locked or missing keyring is reported, never papered over by writing the key to a file.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

SERVICE = "AstroLens"
KNOWN_SECRETS = ("nasa_api_key", "openai_api_key")


@dataclass(frozen=True, slots=True)
class SecretResult:
    value: str | None
    error: str = ""


def _keyring_errors() -> tuple[type[BaseException], ...]:
    import keyring.errors as ke

    errors: list[type[BaseException]] = [ke.KeyringError]
    try:  # Secret Service specific failures (locked collection, dismissed prompt)
        import secretstorage.exceptions as se

        errors.append(se.SecretStorageException)
    except ImportError:
        pass
    return tuple(errors)


def get_secret(name: str) -> SecretResult:
    import keyring

    try:
        return SecretResult(keyring.get_password(SERVICE, name))
    except _keyring_errors() as exc:
        log.warning("keyring unavailable reading %s: %s", name, type(exc).__name__)
        return SecretResult(None, f"keyring unavailable: {type(exc).__name__}: {exc}")


def set_secret(name: str, value: str | None) -> SecretResult:
    import keyring

    try:
        if value:
            keyring.set_password(SERVICE, name, value)
        else:
            with contextlib.suppress(keyring.errors.PasswordDeleteError):
                keyring.delete_password(SERVICE, name)
        return SecretResult(value)
    except _keyring_errors() as exc:
        log.warning("keyring unavailable writing %s: %s", name, type(exc).__name__)
        return SecretResult(None, f"keyring unavailable: {type(exc).__name__}: {exc}")


def keyring_backend_name() -> str:
    import keyring

    backend = keyring.get_keyring()
    return f"{type(backend).__module__}.{type(backend).__name__}"
