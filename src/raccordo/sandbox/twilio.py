"""The Twilio Programmable Messaging stand-in: the REST API the channel calls, and Twilio's webhooks.

- ``POST /2010-04-01/Accounts/{Sid}/Messages.json`` (https://www.twilio.com/docs/messaging/api/message-resource):
  Basic auth (SID, token; 401 with code 20003), ``To`` a valid number (400, 21211), not
  unsubscribed (400, 21610), ``Body`` at most 1600 characters (400, 21617), a known ``From`` (400,
  21606), at most ``rate_per_second`` sends (429, 20429, ``Retry-After``); answered 201 with the
  message resource. Statuses then go to ``StatusCallback`` (queued, sent, delivered; failed or
  undelivered with ``ErrorCode`` 30003 for an unreachable number), signed.
- ``GET /2010-04-01/Accounts/{Sid}.json`` and ``.../IncomingPhoneNumbers.json?PhoneNumber=``.
- MMS media served at ``/2010-04-01/Accounts/{Sid}/Messages/{MessageSid}/Media/{Sid}`` with Basic auth.
- A customer writes (``/_sandbox/twilio/...``): the inbound webhook's parameters as documented at
  https://www.twilio.com/docs/messaging/guides/webhook-request, signed with ``X-Twilio-Signature``
  (computed with the ``twilio`` library, as Twilio itself does it).
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Header, Request, Response
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator

from raccordo.sandbox.sms_state import E164, SANDBOX, SmsAccount, deliver, later

ROUTER = APIRouter(tags=["twilio sandbox"])
_BODY = Body(default_factory=dict)
API = "/2010-04-01/Accounts/{sid}"


def _error(http_status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # Twilio's error body: https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": http_status,
    }
    return JSONResponse(body, status_code=http_status, headers=headers)


def _authorized(sid: str, authorization: str | None) -> SmsAccount | None:
    account = SANDBOX.get("twilio", sid)
    expected = "Basic " + base64.b64encode(f"{sid}:{account.secret}".encode()).decode() if account else None
    return account if account is not None and authorization == expected else None


def signed_post(account: SmsAccount, url: str, params: dict[str, str]) -> list[dict[str, Any]]:
    signature = RequestValidator(account.secret).compute_signature(url, params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }
    return deliver(account, url, urlencode(params).encode(), headers)


@ROUTER.post("/_sandbox/twilio/accounts")
def register_account(data: dict[str, Any] = _BODY) -> dict[str, Any]:
    account = SmsAccount(
        provider="twilio",
        account_id=str(data["account_sid"]),
        secret=str(data["auth_token"]),
        numbers=[str(n) for n in data.get("numbers", [])],
        webhook_url=str(data.get("webhook_url", "")),
        auto_statuses=list(data.get("auto_statuses", ["sent", "delivered"])),
        status_delay=float(data.get("status_delay", 0.2)),
        out_of_order=bool(data.get("out_of_order", False)),
        duplicate=bool(data.get("duplicate", False)),
        rate_per_second=int(data.get("rate_per_second", 30)),
    )
    SANDBOX.add(account)
    return {"account_sid": account.account_id}


@ROUTER.post("/_sandbox/twilio/accounts/{sid}/control")
def control(sid: str, data: dict[str, Any] = _BODY) -> Response:
    account = SANDBOX.get("twilio", sid)
    if account is None:
        return _error(404, 20404, "The requested resource was not found")
    for name in ("fail_next", "auto_statuses"):
        if name in data:
            setattr(account, name, list(data[name]))
    for name in ("opted_out", "unreachable"):
        if name in data:
            setattr(account, name, set(data[name]))
    for name in ("out_of_order", "duplicate"):
        if name in data:
            setattr(account, name, bool(data[name]))
    if "rate_per_second" in data:
        account.rate_per_second = int(data["rate_per_second"])
    return JSONResponse({"ok": True})


@ROUTER.get("/_sandbox/twilio/accounts/{sid}/sent")
def sent(sid: str) -> Response:
    account = SANDBOX.get("twilio", sid)
    return JSONResponse({"sent": account.sent if account else [], "deliveries": account.deliveries if account else []})


@ROUTER.post("/_sandbox/twilio/accounts/{sid}/customers/{number}/messages")
def customer_writes(sid: str, number: str, request: Request, data: dict[str, Any] = _BODY) -> Response:
    """The customer ``number`` texts the account's first number; ``media`` are ``{content_type, data_base64}``."""
    account = SANDBOX.get("twilio", sid)
    if account is None or not account.numbers:
        return _error(404, 20404, "The requested resource was not found")
    media = data.get("media") or []
    message_sid = ("MM" if media else "SM") + secrets.token_hex(16)
    params = {
        "ToCountry": "IT",
        "SmsMessageSid": message_sid,
        "NumMedia": str(len(media)),
        "SmsSid": message_sid,
        "SmsStatus": "received",
        "Body": str(data.get("text", "")),
        "FromCountry": "IT",
        "To": account.numbers[0],
        "NumSegments": "1",
        "MessageSid": message_sid,
        "AccountSid": sid,
        "From": number,
        "ApiVersion": "2010-04-01",
    }
    for index, item in enumerate(media):
        media_sid = "ME" + secrets.token_hex(16)
        account.media[media_sid] = (str(item["content_type"]), base64.b64decode(item["data_base64"]))
        base = str(request.base_url).rstrip("/")
        params[f"MediaUrl{index}"] = f"{base}/2010-04-01/Accounts/{sid}/Messages/{message_sid}/Media/{media_sid}"
        params[f"MediaContentType{index}"] = str(item["content_type"])
    account.received.append({"sid": message_sid, "from": number, "text": params["Body"], "at": time.time()})
    attempts = signed_post(account, account.webhook_url, params)
    return JSONResponse({"sid": message_sid, "deliveries": attempts})


@ROUTER.get(API + ".json")
def account_resource(sid: str, authorization: str | None = Header(default=None)) -> Response:
    account = _authorized(sid, authorization)
    if account is None:
        return _error(401, 20003, "Authenticate")
    return JSONResponse({"sid": sid, "status": "active", "type": "Full", "friendly_name": "Sandbox"})


@ROUTER.get(API + "/IncomingPhoneNumbers.json")
def incoming_numbers(sid: str, PhoneNumber: str = "", authorization: str | None = Header(default=None)) -> Response:  # noqa: N803 - Twilio's parameter name
    account = _authorized(sid, authorization)
    if account is None:
        return _error(401, 20003, "Authenticate")
    numbers = [n for n in account.numbers if not PhoneNumber or n == PhoneNumber]
    return JSONResponse({"incoming_phone_numbers": [{"phone_number": n, "sid": "PN" + n[1:]} for n in numbers]})


@ROUTER.get(API + "/Messages/{message_sid}/Media/{media_sid}")
def media(sid: str, message_sid: str, media_sid: str, authorization: str | None = Header(default=None)) -> Response:
    account = _authorized(sid, authorization)
    if account is None:
        return _error(401, 20003, "Authenticate")
    found = account.media.get(media_sid)
    if found is None:
        return _error(404, 20404, "The requested resource was not found")
    return Response(found[1], media_type=found[0])


@ROUTER.post(API + "/Messages.json")
async def create_message(sid: str, request: Request, authorization: str | None = Header(default=None)) -> Response:
    account = _authorized(sid, authorization)
    if account is None:
        return _error(401, 20003, "Authenticate")
    form = {k: str(v) for k, v in (await request.form()).items()}
    if account.throttled():
        return _error(429, 20429, "Too Many Requests", {"Retry-After": "1"})
    if account.fail_next:
        code = account.fail_next.pop(0)
        return _error(
            429 if code == 20429 else 400,
            code,
            f"Sandbox error {code}",
            {"Retry-After": "1"} if code == 20429 else None,
        )
    to, body = form.get("To", ""), form.get("Body", "")
    if not E164.match(to) or not to.startswith("+"):
        return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if to in account.opted_out:
        return _error(400, 21610, "Attempt to send to unsubscribed recipient")
    if not body:
        return _error(400, 21602, "Message body is required.")
    if len(body) > 1600:
        return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    sender = form.get("From", "")
    if not form.get("MessagingServiceSid") and sender.startswith("+") and sender not in account.numbers:
        return _error(400, 21606, f"The From phone number {sender} is not a valid, SMS-capable inbound phone number.")
    message_sid = "SM" + secrets.token_hex(16)
    record = {
        "sid": message_sid,
        "to": to,
        "from": sender,
        "body": body,
        "status": "queued",
        "callback": form.get("StatusCallback"),
        "at": time.time(),
    }
    account.sent.append(record)
    callback = form.get("StatusCallback")
    if callback and account.auto_statuses:
        failing = to in account.unreachable
        states = [s if s != "delivered" or not failing else "undelivered" for s in account.auto_statuses]

        def report(state: str) -> None:
            params = {"MessageSid": message_sid, "SmsSid": message_sid, "MessageStatus": state, "SmsStatus": state}
            params.update({"AccountSid": sid, "To": to, "From": sender, "ApiVersion": "2010-04-01"})
            if state in ("undelivered", "failed"):
                params["ErrorCode"] = "30003"
            record["status"] = state
            signed_post(account, callback, params)

        later(account, states, report)
    answer = {
        "sid": message_sid,
        "account_sid": sid,
        "to": to,
        "from": sender,
        "body": body,
        "status": "queued",
        "num_segments": "1",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
    }
    return JSONResponse(answer, status_code=201)
