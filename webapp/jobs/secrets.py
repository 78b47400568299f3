"""Secrets of the job settings at rest: one Fernet token per job (SIM-PIN, websms password/token).

The key is the config value SMS_SECRET_KEY. When the environment leaves it empty, one is
generated once into `<instance>/sms_secret_key` (mode 0600), like SECRET_KEY: web server, worker
and CLI of one installation then share it. Several keys separated by commas rotate keys: the
first one encrypts, every one of them decrypts. A value that is not a Fernet key (a passphrase)
is turned into one with SHA-256, so any non-empty text works.

Secrets never leave this module in a log line, a repr or a page: the dialog only learns whether
one is stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import uuid
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask_babel import gettext as _

KEY_FILE = "sms_secret_key"


class SecretsUnreadable(Exception):
    """The stored secrets cannot be decrypted (another SMS_SECRET_KEY?). `reason` is German."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def instance_key(instance_path: Path | str) -> str:
    """The key kept in `<instance>/sms_secret_key`, generated on first use.

    The file appears atomically and is never overwritten, so processes starting at the same
    time end up with the same key.
    """
    folder = Path(instance_path)
    key_file = folder / KEY_FILE
    if key_file.exists():
        return key_file.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = folder / f".{KEY_FILE}.{os.getpid()}.{uuid.uuid4().hex}"
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(Fernet.generate_key().decode("ascii"))
    try:
        os.link(draft, key_file)  # fails when another process was first: its key wins
    except FileExistsError:
        pass
    finally:
        draft.unlink(missing_ok=True)
    return key_file.read_text().strip()


def _fernet_key(text: str) -> bytes:
    raw = text.strip().encode()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def _fernet(secret_key: str) -> MultiFernet:
    keys = [part for part in (secret_key or "").split(",") if part.strip()]
    if not keys:
        raise SecretsUnreadable(
            _("Es ist kein Schlüssel für Zugangsdaten eingestellt (SMS_SECRET_KEY).")
        )
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def encrypt_secrets(values: dict[str, str], secret_key: str) -> str:
    """One token for the non-empty `values` ('' when there is nothing to keep)."""
    kept = {name: value for name, value in values.items() if value}
    if not kept:
        return ""
    payload = json.dumps(kept, sort_keys=True).encode("utf-8")
    return _fernet(secret_key).encrypt(payload).decode("ascii")


def decrypt_secrets(token: str, secret_key: str) -> dict[str, str]:
    """The secrets of `token` ({} for ''); SecretsUnreadable when the key does not fit."""
    if not token:
        return {}
    try:
        payload = _fernet(secret_key).decrypt(token.encode("ascii"))
        values = json.loads(payload.decode("utf-8"))
    except (InvalidToken, UnicodeError, ValueError):
        raise SecretsUnreadable(
            _(
                "Die gespeicherten Zugangsdaten lassen sich mit dem eingestellten Schlüssel "
                "(SMS_SECRET_KEY) nicht entschlüsseln. Bitte PIN, Passwort bzw. Token in den "
                "Einstellungen neu eingeben."
            )
        ) from None
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}
