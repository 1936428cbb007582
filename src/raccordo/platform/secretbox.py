"""Encryption at rest for inbox secrets (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`)."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.orm import Session, sessionmaker

# Where every session of a runtime finds the runtime's box (``Runtime.build`` puts it there), so a use
# case that holds only a session can tell which secrets an inbox has (``secret_names``).
_SESSION_KEY = "raccordo.secretbox"


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


def attach_to_sessions(sessions: sessionmaker[Session], box: SecretBox) -> None:
    """Give every session ``sessions`` makes the runtime's box (read by ``secret_names``)."""
    sessions.configure(info={**(sessions.kw.get("info") or {}), _SESSION_KEY: box})


def secret_names(session: Session, sealed: str | None) -> frozenset[str]:
    """The names of the secrets sealed in ``sealed`` (an inbox's), never their values; none when the
    session has no box (it was not made by a runtime's factory) or nothing is sealed."""
    box = session.info.get(_SESSION_KEY)
    if not sealed or not isinstance(box, SecretBox):
        return frozenset()
    return frozenset(name for name, value in box.open(sealed).items() if value)
