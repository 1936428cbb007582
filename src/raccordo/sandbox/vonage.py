"""The Vonage Messages API stand-in (SMS): ``POST /v1/messages`` and Vonage's signed webhooks.

- Sending (https://developer.vonage.com/en/api/messages#SendMessage): Basic auth with the API key
  and secret, or a bearer JWT signed RS256 by the application's private key (checked against the
  registered public key); 401 otherwise. The body must be ``channel: sms``, ``message_type: text``,
  ``to`` digits, ``text`` present (422 with the invalid parameters otherwise); at most
  ``rate_per_second`` sends (429); answered 202 with ``message_uuid``. Errors are RFC 7807 problems
  as https://developer.vonage.com/en/api-errors/messages shows them.
- Webhooks (https://developer.vonage.com/en/api/messages#webhooks): inbound SMS to the inbound URL,
  statuses (submitted, delivered; rejected with an error for an unreachable number) to the status
  URL, each signed with a JWT (HS256, the signature secret) carrying ``payload_hash``, the SHA-256 of
  the body (https://developer.vonage.com/en/getting-started/concepts/signing-messages).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
from fastapi import APIRouter, Body, Header, Request, Response
from fastapi.responses import JSONResponse

from raccordo.sandbox.sms_state import E164, SANDBOX, SmsAccount, deliver, later

ROUTER = APIRouter(tags=["vonage sandbox"])
# Vonage's own ``channel`` field (sms, mms, whatsapp, viber...): the sandbox plays its SMS part only.
VONAGE_SMS = "sms"
_BODY = Body(default_factory=dict)


def _problem(http_status: int, title: str, detail: str, code: str = "1000", **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://developer.vonage.com/api-errors/messages#{code}",
        "title": title,
        "detail": detail,
        "instance": str(uuid.uuid4()),
        **extra,
    }
    headers = {"Retry-After": "1"} if http_status == 429 else None
    return JSONResponse(body, status_code=http_status, headers=headers)


def signed_post(account: SmsAccount, url: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    claims = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": account.account_id,
        "application_id": account.application_id or str(uuid.uuid4()),
    }
    token = jwt.encode(claims, account.signature_secret, algorithm="HS256")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}", "User-Agent": "Vonage"}
    return deliver(account, url, body, headers)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _account(authorization: str | None) -> SmsAccount | None:
    if not authorization:
        return None
    if authorization.startswith("Basic "):
        try:
            key, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except ValueError:
            return None
        account = SANDBOX.get("vonage", key)
        return account if account is not None and account.secret == secret else None
    if authorization.startswith("Bearer "):
        token = authorization[7:]
        for account in list(SANDBOX.accounts.values()):
            if account.provider != "vonage" or not account.public_key:
                continue
            try:
                claims = jwt.decode(token, account.public_key, algorithms=["RS256"])
            except jwt.PyJWTError:
                continue
            if claims.get("application_id") == account.application_id:
                return account
    return None


@ROUTER.post("/_sandbox/vonage/accounts")
def register_account(data: dict[str, Any] = _BODY) -> dict[str, Any]:
    account = SmsAccount(
        provider="vonage",
        account_id=str(data["api_key"]),
        secret=str(data.get("api_secret", "")),
        numbers=[str(n).lstrip("+") for n in data.get("numbers", [])],
        webhook_url=str(data.get("inbound_url", "")),
        status_url=str(data.get("status_url", "")),
        signature_secret=str(data["signature_secret"]),
        public_key=str(data.get("public_key", "")),
        application_id=str(data.get("application_id", "")),
        auto_statuses=list(data.get("auto_statuses", ["submitted", "delivered"])),
        status_delay=float(data.get("status_delay", 0.2)),
        out_of_order=bool(data.get("out_of_order", False)),
        duplicate=bool(data.get("duplicate", False)),
        rate_per_second=int(data.get("rate_per_second", 30)),
    )
    SANDBOX.add(account)
    return {"api_key": account.account_id}


@ROUTER.post("/_sandbox/vonage/accounts/{api_key}/control")
def control(api_key: str, data: dict[str, Any] = _BODY) -> Response:
    account = SANDBOX.get("vonage", api_key)
    if account is None:
        return _problem(404, "Not found", "No such account")
    if "fail_next" in data:
        account.fail_next = [int(c) for c in data["fail_next"]]
    if "unreachable" in data:
        account.unreachable = {str(n).lstrip("+") for n in data["unreachable"]}
    for name in ("out_of_order", "duplicate"):
        if name in data:
            setattr(account, name, bool(data[name]))
    return JSONResponse({"ok": True})


@ROUTER.get("/_sandbox/vonage/accounts/{api_key}/sent")
def sent(api_key: str) -> Response:
    account = SANDBOX.get("vonage", api_key)
    return JSONResponse({"sent": account.sent if account else [], "deliveries": account.deliveries if account else []})


@ROUTER.post("/_sandbox/vonage/accounts/{api_key}/customers/{number}/messages")
def customer_writes(api_key: str, number: str, data: dict[str, Any] = _BODY) -> Response:
    """The customer ``number`` texts the account's first number (inbound SMS webhook, signed)."""
    account = SANDBOX.get("vonage", api_key)
    if account is None or not account.numbers:
        return _problem(404, "Not found", "No such account")
    message_uuid = str(uuid.uuid4())
    text = str(data.get("text", ""))
    payload = {
        "channel": "sms",
        "message_uuid": message_uuid,
        "to": account.numbers[0],
        "from": number.lstrip("+"),
        "timestamp": _now(),
        "text": text,
        "sms": {"num_messages": "1", "count_total": "1"},
        "usage": {"price": "0.0057", "currency": "EUR"},
        "message_type": "text",
    }
    account.received.append({"uuid": message_uuid, "from": number, "text": text, "at": time.time()})
    return JSONResponse(
        {"message_uuid": message_uuid, "deliveries": signed_post(account, account.webhook_url, payload)}
    )


@ROUTER.post("/v1/messages")
async def send_message(request: Request, authorization: str | None = Header(default=None)) -> Response:
    account = _account(authorization)
    if account is None:
        return _problem(401, "Unauthorized", "You did not provide correct credentials.", "1010")
    try:
        payload = json.loads(await request.body())
    except ValueError:
        return _problem(422, "Invalid params", "The request body is not JSON.", "1150")
    invalid = []
    if not isinstance(payload, dict):
        payload = {}
    if payload.get("channel") != VONAGE_SMS:
        invalid.append({"name": "channel", "reason": "must be sms"})
    if payload.get("message_type") != "text":
        invalid.append({"name": "message_type", "reason": "must be text"})
    to = str(payload.get("to", ""))
    if not E164.match(to) or to.startswith("+"):
        invalid.append({"name": "to", "reason": "must be a number in E.164 format without +"})
    if not payload.get("text"):
        invalid.append({"name": "text", "reason": "is required"})
    if invalid:
        detail = "The value of one or more parameters is invalid."
        return _problem(422, "Invalid params", detail, "1150", invalid_parameters=invalid)
    if account.throttled():
        return _problem(429, "Rate Limit Hit", "Please wait, then retry your request", "1050")
    if account.fail_next:
        status = account.fail_next.pop(0)
        return _problem(status, f"Sandbox error {status}", f"The sandbox answers {status} as asked.")
    message_uuid = str(uuid.uuid4())
    record = {"uuid": message_uuid, "to": to, "from": payload.get("from"), "text": payload["text"], "at": time.time()}
    account.sent.append(record)
    if account.status_url and account.auto_statuses:
        failing = to in account.unreachable
        states = [s if s != "delivered" or not failing else "rejected" for s in account.auto_statuses]

        def report(state: str) -> None:
            record["status"] = state
            status = {
                "message_uuid": message_uuid,
                "to": to,
                "from": payload.get("from"),
                "timestamp": _now(),
                "status": state,
                "channel": "sms",
                "client_ref": payload.get("client_ref", ""),
                "usage": {"price": "0.0333", "currency": "EUR"},
            }
            if state in ("rejected", "undeliverable"):
                status["error"] = {
                    "type": "https://developer.vonage.com/api-errors/messages#1320",
                    "title": 1320,
                    "detail": "Message failed because the number is absent or unreachable",
                    "instance": str(uuid.uuid4()),
                }
            signed_post(account, account.status_url, status)

        later(account, states, report)
    return JSONResponse({"message_uuid": message_uuid}, status_code=202)
