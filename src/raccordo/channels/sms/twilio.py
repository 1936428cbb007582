"""Twilio Programmable Messaging: the inbound webhook, status callbacks, sending, MMS media, the check.

- Inbound: Twilio POSTs ``application/x-www-form-urlencoded`` parameters (``MessageSid``, ``From``,
  ``To``, ``Body``, ``NumMedia``, ``MediaUrl<N>``, ``MediaContentType<N>``...:
  https://www.twilio.com/docs/messaging/guides/webhook-request) to the number's "A message comes
  in" URL, signed with ``X-Twilio-Signature``: HMAC-SHA1 of the full URL followed by the sorted
  parameters, keyed with the auth token (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
  It is verified with the ``twilio`` library's ``RequestValidator``, as Twilio recommends.
- Status callbacks: the same signature, to the ``StatusCallback`` URL given with each send, with
  ``MessageStatus`` (queued, sending, sent, delivered, undelivered, failed, read) and ``ErrorCode``
  (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status). They may come more
  than once and out of order: the record only moves a message forward.
- Sending: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with Basic auth (account SID,
  auth token) and ``To``, ``From`` (or ``MessagingServiceSid``), ``Body``, ``StatusCallback``
  (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource).
- MMS media: each ``MediaUrl<N>`` is fetched with the same Basic auth
  (https://www.twilio.com/docs/messaging/api/media-resource), after the message is stored (``media.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from raccordo.channels.base import (
    ChannelRejected,
    CheckResult,
    DeliveryReport,
    InboundEvent,
    InboundIdentity,
    InboundRequest,
    InboxConfig,
)
from raccordo.channels.sms import errors
from raccordo.channels.sms.config import language_of, sms_metadata

DEFAULT_BASE_URL = "https://api.twilio.com"
SIGNATURE_HEADER = "x-twilio-signature"
API_VERSION = "2010-04-01"
TIMEOUT = 15.0
# Twilio's statuses and what the record makes of them (queued/sending/sent: nothing new to show).
DELIVERED = {"delivered": "delivered", "read": "read"}
FAILED = frozenset({"undelivered", "failed"})
MAX_MEDIA = 10  # Twilio accepts at most 10 media per MMS


def base_url(inbox: InboxConfig) -> str:
    return str(inbox.settings.get("twilio_api_base_url") or DEFAULT_BASE_URL).rstrip("/")


def auth(inbox: InboxConfig) -> tuple[str, str]:
    return str(inbox.settings.get("twilio_account_sid", "")), inbox.secrets.get("twilio_auth_token", "")


def verify(inbox: InboxConfig, request: InboundRequest) -> dict[str, str]:
    """The form parameters of a request Twilio signed for this inbox; 401 otherwise."""
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not given:
        raise ChannelRejected("sms.twilio.signature_missing", status=401)
    token = inbox.secrets.get("twilio_auth_token", "")
    params = dict(request.form())
    if not token or not RequestValidator(token).validate(request.url, params, given):
        raise ChannelRejected("sms.twilio.signature_mismatch", status=401)
    return params


def parse(inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
    params = verify(inbox, request)
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if not sid:
        raise ChannelRejected("sms.payload_field", status=422, field="MessageSid")
    account = str(inbox.settings.get("twilio_account_sid", ""))
    if params.get("AccountSid") and params["AccountSid"] != account:
        raise ChannelRejected("sms.twilio.other_account", status=422, field="AccountSid")
    status = params.get("MessageStatus") or ""
    if status and status != "received":
        return _status(inbox, sid, status, params)
    sender = params.get("From", "")
    if not sender:
        raise ChannelRejected("sms.payload_field", status=422, field="From")
    media = []
    try:
        count = min(int(params.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        raise ChannelRejected("sms.payload_field", status=422, field="NumMedia") from None
    for index in range(count):
        url = params.get(f"MediaUrl{index}")
        if url:
            media.append({"url": url, "content_type": params.get(f"MediaContentType{index}", ""), "status": "pending"})
    details = {"provider": "twilio", "segments": params.get("NumSegments"), "to": params.get("To")}
    return [
        InboundEvent(
            provider_message_id=sid,
            identities=[InboundIdentity("phone", sender)],
            text=params.get("Body", ""),
            sent_at=datetime.now(UTC),
            metadata=sms_metadata(inbox, params.get("Body", ""), details, media),
        )
    ]


def _status(inbox: InboxConfig, sid: str, status: str, params: dict[str, str]) -> list[InboundEvent | DeliveryReport]:
    report_id = f"twilio:{sid}:{status}"
    if status in DELIVERED:
        return [DeliveryReport((sid,), DELIVERED[status], status, report_id)]
    if status in FAILED:
        code = params.get("ErrorCode") or ""
        reason = errors.explain("twilio", int(code) if code.isdigit() else code, status, language_of(inbox))
        return [DeliveryReport((sid,), "failed", reason, report_id)]
    return []


def send(inbox: InboxConfig, to: str, text: str) -> str:
    sid, token = auth(inbox)
    form: dict[str, str] = {"To": to, "Body": text}
    service = str(inbox.settings.get("twilio_messaging_service_sid") or "")
    if service:
        form["MessagingServiceSid"] = service
    else:
        form["From"] = str(inbox.settings.get("sender", ""))
    callback = str(inbox.settings.get("status_callback_url") or "")
    if callback:
        form["StatusCallback"] = callback
    url = f"{base_url(inbox)}/{API_VERSION}/Accounts/{sid}/Messages.json"
    try:
        answer = httpx.post(url, data=form, auth=(sid, token), timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise errors.unreachable("Twilio", exc) from None
    if answer.status_code >= 400:
        raise errors.twilio_failure(
            answer.status_code, _json(answer), answer.headers.get("retry-after"), language_of(inbox)
        )
    return str(_json(answer).get("sid", ""))


def download(inbox: InboxConfig, url: str) -> tuple[bytes, str]:
    """One MMS file, fetched with the account's Basic auth (Twilio redirects to its media store)."""
    answer = httpx.get(url, auth=auth(inbox), timeout=TIMEOUT, follow_redirects=True)
    answer.raise_for_status()
    return answer.content, answer.headers.get("content-type", "application/octet-stream")


def check(inbox: InboxConfig) -> list[CheckResult]:
    """Steps: Twilio answers at all (``reach``), the SID and token are accepted (``credentials``), the
    sender number belongs to the account (``sender``; an alias or a Messaging Service is not looked up)."""
    sid, token = auth(inbox)
    try:
        account = httpx.get(f"{base_url(inbox)}/{API_VERSION}/Accounts/{sid}.json", auth=(sid, token), timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        return [
            CheckResult("reach", False, "settings.twilio_api_base_url", "sms.check.unreachable", {"error": str(exc)})
        ]
    results = [CheckResult("reach", True)]
    if account.status_code in (401, 403, 404):
        results.append(CheckResult("credentials", False, "secrets.twilio_auth_token", "sms.check.twilio_credentials"))
        return results
    results.append(CheckResult("credentials", account.status_code < 400))
    sender = str(inbox.settings.get("sender", ""))
    if not sender.startswith("+") or inbox.settings.get("twilio_messaging_service_sid"):
        return results
    numbers = httpx.get(
        f"{base_url(inbox)}/{API_VERSION}/Accounts/{sid}/IncomingPhoneNumbers.json",
        params={"PhoneNumber": sender},
        auth=(sid, token),
        timeout=TIMEOUT,
    )
    found = numbers.status_code == 200 and bool(_json(numbers).get("incoming_phone_numbers"))
    results.append(
        CheckResult("sender", found, None if found else "settings.sender", None if found else "sms.check.sender")
    )
    return results


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
