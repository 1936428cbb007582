"""Provider requests as the documentation shows them, signed the way each provider signs.

Twilio's inbound parameters: https://www.twilio.com/docs/messaging/guides/webhook-request
(the MMS one adds ``MediaUrl0``/``MediaContentType0``); its status callback:
https://www.twilio.com/docs/messaging/guides/track-outbound-message-status ("an example of a
StatusCallback request"). Vonage's inbound SMS and message status: https://developer.vonage.com/en/api/messages#webhooks.
Signatures: Twilio's ``X-Twilio-Signature`` computed with the ``twilio`` library (what Twilio
runs), Vonage's JWT (HS256 with the signature secret, ``payload_hash`` the body's SHA-256).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import jwt
from twilio.request_validator import RequestValidator

from raccordo.channels.base import InboundRequest, InboxConfig

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "12345678901234567890123456789012"
SIGNATURE_SECRET = "vonage-signature-secret-0123456789"
URL = "https://raccordo.example.it/api/v1/channels/sms/inbox123/messages"

TWILIO_INBOUND = {
    "ToCountry": "IT",
    "ToState": "",
    "SmsMessageSid": "SM" + "a" * 32,
    "NumMedia": "0",
    "ToCity": "",
    "FromZip": "",
    "SmsSid": "SM" + "a" * 32,
    "FromState": "",
    "SmsStatus": "received",
    "FromCity": "",
    "Body": "Buongiorno, a che ora aprite?",
    "FromCountry": "IT",
    "To": "+390200000000",
    "ToZip": "",
    "NumSegments": "1",
    "MessageSid": "SM" + "a" * 32,
    "AccountSid": ACCOUNT_SID,
    "From": "+393471234567",
    "ApiVersion": "2010-04-01",
}
TWILIO_MMS = {
    **TWILIO_INBOUND,
    "MessageSid": "MM" + "b" * 32,
    "SmsSid": "MM" + "b" * 32,
    "SmsMessageSid": "MM" + "b" * 32,
    "Body": "",
    "NumMedia": "1",
    "MediaContentType0": "image/jpeg",
    "MediaUrl0": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'b' * 32}/Media/ME{'c' * 32}",
}


def twilio_status(sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
    params = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": "+393471234567",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": "+390200000000",
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params


VONAGE_INBOUND: dict[str, Any] = {
    "channel": "sms",
    "message_uuid": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
    "to": "390200000000",
    "from": "393471234567",
    "timestamp": "2025-02-03T12:14:25Z",
    "text": "Hello From Vonage!",
    "sms": {"num_messages": "1", "count_total": "1"},
    "usage": {"price": "0.0057", "currency": "EUR"},
    "message_type": "text",
}


def vonage_status(message_uuid: str, status: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "message_uuid": message_uuid,
        "to": "393471234567",
        "from": "390200000000",
        "timestamp": "2025-02-03T12:14:25Z",
        "status": status,
        "usage": {"price": "0.0333", "currency": "EUR"},
        "channel": "sms",
        "client_ref": "abc123",
    }
    if status == "rejected":
        payload["error"] = {
            "type": "https://developer.vonage.com/api-errors/messages#1320",
            "title": 1320,
            "detail": "Message failed because the number is absent",
            "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf",
        }
    return payload


def twilio_inbox(**settings: Any) -> InboxConfig:
    return InboxConfig(
        1,
        "inbox123",
        {
            "provider": "twilio",
            "sender": "+390200000000",
            "twilio_account_sid": ACCOUNT_SID,
            "max_segments": 3,
            **settings,
        },
        {"twilio_auth_token": AUTH_TOKEN},
    )


def vonage_inbox(**settings: Any) -> InboxConfig:
    return InboxConfig(
        2,
        "inbox456",
        {"provider": "vonage", "sender": "390200000000", "vonage_api_key": "abcd1234", **settings},
        {"vonage_api_secret": "s3cret", "vonage_signature_secret": SIGNATURE_SECRET},
    )


def twilio_request(params: dict[str, str], *, token: str = AUTH_TOKEN, url: str = URL) -> InboundRequest:
    signature = RequestValidator(token).compute_signature(url, params)
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature}
    return InboundRequest("POST", url, headers, urlencode(params).encode())


def vonage_token(body: bytes, secret: str = SIGNATURE_SECRET) -> str:
    claims = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def vonage_request(
    payload: dict[str, Any], *, secret: str = SIGNATURE_SECRET, body: bytes | None = None
) -> InboundRequest:
    raw = json.dumps(payload).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {vonage_token(raw, secret)}"}
    return InboundRequest("POST", URL, headers, body if body is not None else raw)
