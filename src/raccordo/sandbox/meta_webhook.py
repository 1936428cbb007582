"""How the sandbox calls a Meta (Graph) webhook, the same for WhatsApp and Messenger/Instagram: the body
signed with ``X-Hub-Signature-256`` like every Graph webhook
(https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads), a call not
answered 2xx retried ``RETRIES`` times, quickly, so tests see the retry without waiting.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

RETRIES = 4
RETRY_DELAYS = (0.1, 0.3, 0.9, 2.7)


def sign(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def post_signed(
    webhook_url: str, app_secret: str, payload: dict[str, Any], *, duplicate: bool = False
) -> list[dict[str, Any]]:
    """POST the payload signed; retried on non-2xx; sent twice when ``duplicate``. Every attempt's outcome
    (the HTTP status, or the name of the transport error), in order."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(app_secret, body),
        "User-Agent": "facebookexternalua",
    }
    attempts: list[dict[str, Any]] = []
    for copy in range(2 if duplicate else 1):
        for attempt in range(RETRIES + 1):
            try:
                status: int | str = httpx.post(webhook_url, content=body, headers=headers, timeout=15).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            attempts.append({"copy": copy, "attempt": attempt, "status": status})
            if isinstance(status, int) and 200 <= status < 300:
                break
            if attempt < RETRIES:
                time.sleep(RETRY_DELAYS[attempt])
    return attempts
