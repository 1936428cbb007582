"""Vonage Messages API (SMS channel): signed webhooks, sending, the check.

- Inbound and status webhooks are JSON POSTs to the application's Inbound and Status URLs
  (https://developer.vonage.com/en/api/messages#webhooks), signed with a JWT in
  ``Authorization: Bearer``: HS256 with the account's signature secret, whose ``payload_hash``
  claim is the SHA-256 of the body (https://developer.vonage.com/en/getting-started/concepts/signing-messages,
  "Signed webhooks"). The token is the signature of the request, not a credential of ours, so the
  channel keeps it with the raw row (``Channel.kept_headers``) and a stored request verifies again.
- Inbound SMS: ``{"channel": "sms", "message_type": "text", "message_uuid", "from", "to", "text",
  "timestamp", "sms": {"num_messages"}}``; numbers are digits without ``+``.
- Statuses: ``submitted``, ``delivered``, ``read``, ``rejected``, ``undeliverable``, with an ``error``
  object (``title`` a code, ``detail`` the text) when it failed.
- Sending: ``POST /v1/messages`` with ``{"message_type": "text", "channel": "sms", "to", "from",
  "text", "client_ref"}`` and Basic auth (API key and secret) or a JWT signed RS256 with the
  application's private key (https://developer.vonage.com/en/messages/technical-details#authentication);
  answered 202 with ``message_uuid``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import jwt

from raccordo.channels.base import (
    ChannelRejected,
    CheckResult,
    DeliveryReport,
    InboundEvent,
    InboundIdentity,
    InboundRequest,
    InboxConfig,
    parse_payload,
)
from raccordo.channels.sms import errors
from raccordo.channels.sms.config import language_of, sms_metadata
from raccordo.channels.sms.schemas import VonageWebhook

DEFAULT_BASE_URL = "https://api.nexmo.com"
TIMEOUT = 15.0
FAILED = frozenset({"rejected", "undeliverable"})
DELIVERED = {"delivered": "delivered", "read": "read"}


def base_url(inbox: InboxConfig) -> str:
    return str(inbox.settings.get("vonage_api_base_url") or DEFAULT_BASE_URL).rstrip("/")


def verify(inbox: InboxConfig, request: InboundRequest) -> None:
    """The bearer JWT is signed with the signature secret and its ``payload_hash`` is the body's; 401 otherwise."""
    given = request.headers.get("authorization", "")
    if not given.lower().startswith("bearer "):
        raise ChannelRejected("sms.vonage.signature_missing", status=401)
    secret = inbox.secrets.get("vonage_signature_secret", "")
    if not secret:
        raise ChannelRejected("sms.vonage.signature_mismatch", status=401)
    try:
        # A minute of leeway: Vonage's clock and ours may differ a little (an ``iat`` "in the future").
        claims = jwt.decode(given[7:].strip(), secret, algorithms=["HS256"], options={"require": ["iat"]}, leeway=60)
    except jwt.PyJWTError:
        raise ChannelRejected("sms.vonage.signature_mismatch", status=401) from None
    expected = hashlib.sha256(request.body).hexdigest()
    if not hmac.compare_digest(str(claims.get("payload_hash", "")), expected):
        raise ChannelRejected("sms.vonage.payload_hash", status=401)


def e164(number: str) -> str:
    number = number.strip()
    return number if number.startswith("+") else f"+{number}"


def parse(inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
    verify(inbox, request)
    hook = parse_payload(VonageWebhook, request.body)
    if hook.channel != "sms":
        raise ChannelRejected("sms.vonage.not_sms", status=422, field="channel", value=hook.channel)
    if hook.status:
        return _status(inbox, hook)
    if not hook.from_:
        raise ChannelRejected("sms.payload_field", status=422, field="from")
    sent_at = _timestamp(hook.timestamp)
    details = {"provider": "vonage", "segments": (hook.sms or {}).get("num_messages"), "to": hook.to}
    return [
        InboundEvent(
            provider_message_id=hook.message_uuid,
            identities=[InboundIdentity("phone", e164(hook.from_))],
            text=hook.text or "",
            sent_at=sent_at,
            metadata=sms_metadata(inbox, hook.text or "", details),
        )
    ]


def _status(inbox: InboxConfig, hook: VonageWebhook) -> list[InboundEvent | DeliveryReport]:
    status = hook.status or ""
    report_id = f"vonage:{hook.message_uuid}:{status}"
    if status in DELIVERED:
        return [DeliveryReport((hook.message_uuid,), DELIVERED[status], status, report_id)]
    if status in FAILED:
        error = hook.error or {}
        reason = errors.explain(
            "vonage", error.get("title", ""), str(error.get("detail") or status), language_of(inbox)
        )
        return [DeliveryReport((hook.message_uuid,), "failed", reason, report_id)]
    return []  # submitted: the send's own answer already said so


def _timestamp(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def authorization(inbox: InboxConfig) -> dict[str, str]:
    """JWT (application id and private key) when configured, else Basic with the API key and secret."""
    application = str(inbox.settings.get("vonage_application_id") or "")
    key = inbox.secrets.get("vonage_private_key", "").replace("\\n", "\n")
    if application and key:
        now = int(time.time())
        claims = {"application_id": application, "iat": now, "exp": now + 900, "jti": str(uuid.uuid4())}
        return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='RS256')}"}
    pair = f"{inbox.settings.get('vonage_api_key', '')}:{inbox.secrets.get('vonage_api_secret', '')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def send(inbox: InboxConfig, to: str, text: str, client_ref: str) -> str:
    payload = {
        "message_type": "text",
        "channel": "sms",
        "to": to.lstrip("+"),
        "from": str(inbox.settings.get("sender", "")).lstrip("+"),
        "text": text,
        "client_ref": client_ref[:100],
    }
    try:
        headers = authorization(inbox)
    except (ValueError, jwt.PyJWTError) as exc:
        raise errors.vonage_failure(
            401, {"title": "Invalid private key", "detail": str(exc)[:200]}, None, "en"
        ) from None
    try:
        answer = httpx.post(f"{base_url(inbox)}/v1/messages", json=payload, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise errors.unreachable("Vonage", exc) from None
    if answer.status_code >= 400:
        raise errors.vonage_failure(
            answer.status_code, _json(answer), answer.headers.get("retry-after"), language_of(inbox)
        )
    return str(_json(answer).get("message_uuid", ""))


def check(inbox: InboxConfig) -> list[CheckResult]:
    """Steps: the API answers (``reach``); the credentials are accepted (``credentials``: an empty
    message is refused with 422 by valid credentials and 401 by wrong ones, and nothing is sent);
    the signature secret is set (``signature``: Vonage only uses it to sign webhooks)."""
    try:
        headers = authorization(inbox)
    except (ValueError, jwt.PyJWTError) as exc:
        return [
            CheckResult(
                "credentials", False, "secrets.vonage_private_key", "sms.check.vonage_key", {"error": str(exc)[:200]}
            )
        ]
    try:
        answer = httpx.post(f"{base_url(inbox)}/v1/messages", json={"channel": "sms"}, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        return [
            CheckResult("reach", False, "settings.vonage_api_base_url", "sms.check.unreachable", {"error": str(exc)})
        ]
    results = [CheckResult("reach", True)]
    if answer.status_code in (401, 403):
        setting = (
            "secrets.vonage_private_key" if inbox.settings.get("vonage_application_id") else "secrets.vonage_api_secret"
        )
        results.append(CheckResult("credentials", False, setting, "sms.check.vonage_credentials"))
        return results
    results.append(CheckResult("credentials", True))
    signed = bool(inbox.secrets.get("vonage_signature_secret"))
    results.append(
        CheckResult(
            "signature",
            signed,
            None if signed else "secrets.vonage_signature_secret",
            None if signed else "sms.check.signature_secret",
        )
    )
    return results


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
