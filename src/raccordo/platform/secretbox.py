"""Encryption at rest for inbox secrets (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`)."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        # Derive a dedicated key so the same configured secret can serve other purposes safely.
        derived = hashlib.sha256(b"raccordo/inbox-secrets/v1\0" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secrets: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode("ascii")

    def open(self, sealed: str | None) -> dict[str, str]:
        if not sealed:
            return {}
        try:
            return json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except InvalidToken:
            raise RuntimeError(
                "inbox secrets cannot be decrypted: RACCORDO_SECRET_KEY differs from the one that encrypted them"
            ) from None
