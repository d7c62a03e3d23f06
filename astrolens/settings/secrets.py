"""API keys in the system keyring (Keychain, Credential Manager, Secret Service).

A locked or missing keyring is reported, never papered over by writing the key to a file.
Without a Secret Service, keyring silently picks keyrings.alt's plaintext file backend: that
is treated as no keyring at all (keys are neither written nor read there), and said so.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from astrolens.domain.redaction import register_secret

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


def insecure_backend(backend: object | None = None) -> str:
    """Why the active keyring backend is not a safe place for keys ('' when it is)."""
    import keyring

    backend = backend if backend is not None else keyring.get_keyring()
    chain = getattr(backend, "backends", None) or [backend]
    plain = [b for b in chain if type(b).__name__ == "PlaintextKeyring"]
    if plain and len(plain) == len(chain):
        where = getattr(plain[0], "file_path", "a file")
        return (
            "no secure keyring: the only one available (keyrings.alt PlaintextKeyring) would "
            f"keep keys unencrypted in {where}; start a Secret Service (GNOME Keyring, KWallet) "
            "to store API keys"
        )
    return ""


def get_secret(name: str) -> SecretResult:
    import keyring

    insecure = insecure_backend()
    if insecure:
        return SecretResult(None, insecure)
    try:
        value = keyring.get_password(SERVICE, name)
        register_secret(value)  # so no log line, URL or error can show it
        return SecretResult(value)
    except _keyring_errors() as exc:
        log.warning("keyring unavailable reading %s: %s", name, type(exc).__name__)
        return SecretResult(None, f"keyring unavailable: {type(exc).__name__}: {exc}")


def set_secret(name: str, value: str | None) -> SecretResult:
    import keyring

    insecure = insecure_backend()
    if insecure:
        return SecretResult(None, insecure)
    try:
        if value:
            register_secret(value)
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
