"""HMAC-SHA256 request signatures shared by the API channel's inbound requests and outbound callbacks.

Scheme (Stripe-style): header ``X-Raccordo-Timestamp: <unix seconds>`` and
``X-Raccordo-Signature: sha256=<hex hmac(secret, "<timestamp>." + body)>``. The timestamp
bounds replays to ``tolerance`` seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "x-raccordo-signature"
TIMESTAMP_HEADER = "x-raccordo-timestamp"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Raccordo-Timestamp": str(timestamp), "X-Raccordo-Signature": f"sha256={digest}"}


def verify(
    secret: str, body: bytes, headers: dict[str, str], tolerance: int = 300, now: float | None = None
) -> str | None:
    """None when valid, otherwise the translation key of what is wrong."""
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature:
        return "signature.missing"
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > tolerance:
        return "signature.stale"
    expected = sign(secret, body, int(timestamp))["X-Raccordo-Signature"]
    if not hmac.compare_digest(expected, signature.strip()):
        return "signature.mismatch"
    return None
