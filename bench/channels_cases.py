"""The channels bench's channels: for each, the inbox it creates and the signed webhook request of message n.

Adding a channel is one function and one entry in ``CASES``::

    def sms_request(inbox: BenchInbox, n: int) -> InboundCall:
        ...

    CASES["sms"] = ChannelCase("sms", sms_settings, sms_request)

``<kind>_request(inbox, n)`` builds the n-th inbound request (n = 0, 1, 2, ... within the run,
warm-up included) exactly as the provider sends it to the inbox's webhook URL: its body, its
headers with the provider's signature computed here from the inbox's secrets (written out, not
the channel's own verification code), and what must be in the database once it is stored:

- one message per request, from a **new customer** (a distinct identity for every n), so every
  channel does the same database work as the API-channel baseline: one raw row, one contact, one
  identity, one conversation, one message;
- ``InboundCall.message_id``: the provider message id the stored message must carry;
- ``InboundCall.identity``: the customer's (kind, normalized value), as the record stores it.

Use ``name_of(inbox, n)`` and ``text_of(n)`` for the customer's name and message, so every
channel's contacts and messages look alike.

``inbox`` (``BenchInbox``) is the inbox the bench created over the REST API with
``ChannelCase.settings(run_id)``: its identifier, webhook path, the settings and secrets given,
plus the secrets the server generated and showed once (the API channel's ``hmac_secret``).
The URL a URL-signing provider signs (Twilio) is ``inbox.base_url + inbox.webhook_path``.

Phone numbers: use ``mobile(prefix, n)`` with a mobile prefix no other case uses (the API
channel has 347, WhatsApp 348 and 349, SMS Twilio 320, SMS Vonage 324), so no customer links
across channels. Provider URLs in the settings point at ``CLOSED``, a closed port on 127.0.0.1: an
inbound text needs no provider call, and any call (Telegram's ``setWebhook`` when its inbox is
created) is refused at once, never leaving the machine.

The request is built just before it is sent, so a timestamped signature is fresh.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt

from bench._support import FIRST_NAMES, LAST_NAMES
from raccordo.channels import signing

TEXTS = [
    "Buongiorno, il mio ordine non è ancora arrivato.",
    "Salve, vorrei modificare l'indirizzo di consegna.",
    "Hello, I was charged twice for the same invoice.",
    "Ho ricevuto un prodotto danneggiato, come posso fare il reso?",
]


@dataclass(frozen=True)
class BenchInbox:
    """An inbox the bench created, as a request builder needs it."""

    kind: str
    identifier: str
    run_id: str
    base_url: str
    settings: dict[str, Any]
    secrets: dict[str, str]  # what the bench gave, plus what the server generated and showed once
    slot: int = 0  # this channel's place among the run's channels
    channels: int = 1  # how many channels the run measures

    @property
    def webhook_path(self) -> str:
        return f"/api/v1/channels/{self.kind}/{self.identifier}/messages"


@dataclass(frozen=True)
class InboundCall:
    """One webhook request as the provider sends it, and what it must leave in the database."""

    path: str
    body: bytes
    headers: dict[str, str]
    message_id: str  # the stored message's provider_message_id
    identity: tuple[str, str]  # the new customer's (kind, normalized value)


@dataclass(frozen=True)
class ChannelCase:
    kind: str  # the channel's kind (its inbox's "channel"); CASES names the case
    # run id -> (settings, secrets) of the inbox, as POST /api/v1/inboxes takes them.
    settings: Callable[[str], tuple[dict[str, Any], dict[str, str]]]
    request: Callable[[BenchInbox, int], InboundCall]
    # False when the channel answers in the provider's own format (Twilio's TwiML, Telegram's empty
    # object) instead of the stored message ids: the database check is then the only one.
    answers_ids: bool = True


def mobile(prefix: str, n: int) -> str:
    """An Italian mobile number in E.164, distinct for each n: ``+39`` + the 3-digit prefix + 7 digits."""
    return f"+39{prefix}{n % 10_000_000:07d}"


def text_of(n: int) -> str:
    return f"{TEXTS[n % len(TEXTS)]} (#{n})"


# "Giulia M. Rossi": 30 x 26 x 30 = 23,400 distinct names.
INITIALS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def name_of(inbox: BenchInbox, n: int) -> str:
    """Customer n's name on this inbox, distinct from every other customer's of the run (up to 23,400 of them).

    Same-named contacts make merge suggestions, whose cost grows with how many share the name: with
    names that repeat, a channel measured after another would pay for the other's customers. Distinct
    names make every channel do the same work; the ingest bench measures names that repeat."""
    i = (n * inbox.channels + inbox.slot) % (len(FIRST_NAMES) * len(INITIALS) * len(LAST_NAMES))
    first, rest = FIRST_NAMES[i % len(FIRST_NAMES)], i // len(FIRST_NAMES)
    return f"{first} {INITIALS[rest % len(INITIALS)]}. {LAST_NAMES[rest // len(INITIALS)]}"


def _compact(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# --------------------------------------------------------------------------- API channel (the baseline)


def api_settings(run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    return {}, {}  # the hmac_secret is generated by the server and shown once


def api_request(inbox: BenchInbox, n: int) -> InboundCall:
    """The API channel's inbound message (docs/channels/api.md), signed with ``X-Raccordo-Signature``."""
    number = mobile("347", n)
    message_id = f"api-{inbox.run_id}-{n}"
    body = _compact(
        {
            "message_id": message_id,
            "contact": {"name": name_of(inbox, n), "identities": [{"kind": "phone", "value": number}]},
            "text": text_of(n),
        }
    )
    headers = {"Content-Type": "application/json", **signing.sign(inbox.secrets["hmac_secret"], body)}
    return InboundCall(inbox.webhook_path, body, headers, message_id, ("phone", number))


# --------------------------------------------------------------------------- WhatsApp Cloud API

# Nothing leaves the machine: a text message needs no Graph call, and any call would go to the discard port.
WHATSAPP_GRAPH = "http://127.0.0.1:9/v21.0"
WHATSAPP_WABA = "102290129340398"


def whatsapp_settings(run_id: str, number: str = "") -> tuple[dict[str, Any], dict[str, str]]:
    phone_number_id = str(int(hashlib.sha256(f"{run_id}{number}".encode()).hexdigest(), 16) % 10**15).rjust(15, "1")
    settings = {"phone_number_id": phone_number_id, "waba_id": WHATSAPP_WABA, "graph_base_url": WHATSAPP_GRAPH}
    return settings, {"access_token": f"EAAG-bench-{run_id}", "app_secret": f"bench-app-secret-{run_id}{number}"}


def whatsapp_call(inbox: BenchInbox, n: int, prefix: str, path: str) -> InboundCall:
    """Meta's ``messages`` webhook with one text message (the reference's text sample), signed with
    ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the app secret), from ``mobile(prefix, n)``."""
    number = mobile(prefix, n)
    wa_id = number.lstrip("+")
    wamid = f"wamid.bench{inbox.run_id}{prefix}{n:08d}"
    body = _compact(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": inbox.settings["waba_id"],
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550783881",
                                    "phone_number_id": inbox.settings["phone_number_id"],
                                },
                                "contacts": [{"profile": {"name": name_of(inbox, n)}, "wa_id": wa_id}],
                                "messages": [
                                    {
                                        "from": wa_id,
                                        "id": wamid,
                                        "timestamp": str(int(time.time())),
                                        "type": "text",
                                        "text": {"body": text_of(n)},
                                    }
                                ],
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }
    )
    digest = hmac.new(inbox.secrets["app_secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
    return InboundCall(path, body, headers, wamid, ("whatsapp", number))


def whatsapp_request(inbox: BenchInbox, n: int) -> InboundCall:
    """To the inbox's own webhook URL (one phone number)."""
    return whatsapp_call(inbox, n, "348", inbox.webhook_path)


def whatsapp_app_settings(run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    return whatsapp_settings(run_id, "app")


def whatsapp_app_request(inbox: BenchInbox, n: int) -> InboundCall:
    """To the app-level URL Meta calls for every phone number of an app (``channels/whatsapp/app_webhook.py``),
    which finds the inbox by the body's ``phone_number_id``."""
    return whatsapp_call(inbox, n, "349", "/api/v1/channels/whatsapp/webhook")


# --------------------------------------------------------------------------- SMS (Twilio, Vonage)

# The discard port: refused at once on 127.0.0.1 (nothing listens there).
CLOSED = "http://127.0.0.1:9"
SMS_SENDER = "+390200000000"


def _run_number(run_id: str, salt: str, digits: int) -> str:
    """A numeric id of ``digits`` digits, the same for a run and salt (Meta's page ids, Twilio's SIDs)."""
    value = int(hashlib.sha256(f"{run_id}{salt}".encode()).hexdigest(), 16) % 10**digits
    return str(value).rjust(digits, "1")


def sms_twilio_settings(run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    settings = {
        "provider": "twilio",
        "sender": SMS_SENDER,
        "twilio_account_sid": "AC" + hashlib.md5(run_id.encode()).hexdigest(),
        "twilio_api_base_url": CLOSED,
    }
    return settings, {"twilio_auth_token": hashlib.md5(f"token{run_id}".encode()).hexdigest()}


def sms_twilio_request(inbox: BenchInbox, n: int) -> InboundCall:
    """Twilio's inbound SMS (the documented form parameters), signed with ``X-Twilio-Signature``: base64
    of the HMAC-SHA1, with the auth token, of the URL Twilio posts to followed by each parameter's name
    and value in name order."""
    number = mobile("320", n)
    sid = f"SM{inbox.run_id}{n:024d}"
    params = {
        "ToCountry": "IT",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": text_of(n),
        "FromCountry": "IT",
        "To": SMS_SENDER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": inbox.settings["twilio_account_sid"],
        "From": number,
        "ApiVersion": "2010-04-01",
    }
    signed = inbox.base_url.rstrip("/") + inbox.webhook_path + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(inbox.secrets["twilio_auth_token"].encode(), signed.encode(), hashlib.sha1).digest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": base64.b64encode(digest).decode(),
    }
    return InboundCall(inbox.webhook_path, urlencode(params).encode(), headers, sid, ("phone", number))


def sms_vonage_settings(run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    settings = {
        "provider": "vonage",
        "sender": SMS_SENDER,
        "vonage_api_key": run_id,
        "vonage_api_base_url": CLOSED,
    }
    return settings, {
        "vonage_api_secret": f"s{run_id}",
        "vonage_signature_secret": f"bench-vonage-signature-secret-{run_id}",
    }


def sms_vonage_request(inbox: BenchInbox, n: int) -> InboundCall:
    """Vonage's Messages API inbound SMS, signed with a bearer JWT (HS256 with the signature secret) whose
    ``payload_hash`` is the body's SHA-256; numbers are digits without ``+``."""
    number = mobile("324", n)
    message_uuid = str(uuid.UUID(int=(int(inbox.run_id, 16) << 64) + n))
    body = _compact(
        {
            "channel": "sms",
            "message_uuid": message_uuid,
            "to": SMS_SENDER.lstrip("+"),
            "from": number.lstrip("+"),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "text": text_of(n),
            "sms": {"num_messages": "1", "count_total": "1"},
            "usage": {"price": "0.0057", "currency": "EUR"},
            "message_type": "text",
        }
    )
    claims = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
    }
    token = jwt.encode(claims, inbox.secrets["vonage_signature_secret"], algorithm="HS256")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return InboundCall(inbox.webhook_path, body, headers, message_uuid, ("phone", number))


# --------------------------------------------------------------------------- Telegram (webhook mode)


def telegram_settings(run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    # Creating the inbox schedules setWebhook (PROVISIONING), refused by the closed port: the job fails
    # and retries (5 s, 20 s, 80 s, ...), each try a refused connection; the bench reports its state.
    settings = {"mode": "webhook", "api_base_url": CLOSED}
    return settings, {"bot_token": f"{_run_number(run_id, 'bot', 10)}:AAH-bench-{run_id}-token-0123456789"}


def telegram_request(inbox: BenchInbox, n: int) -> InboundCall:
    """A Bot API ``Update`` with a private chat's text message, as Telegram pushes it to a webhook set with
    a ``secret_token``: the secret comes back in ``X-Telegram-Bot-Api-Secret-Token``."""
    user_id = 6_000_000_000 + n
    first, last = name_of(inbox, n).split(" ", 1)
    user = {"id": user_id, "is_bot": False, "first_name": first, "last_name": last, "language_code": "it"}
    body = _compact(
        {
            "update_id": 700_000_000 + n,
            "message": {
                "message_id": n + 1,
                "from": user,
                "chat": {"id": user_id, "first_name": first, "last_name": last, "type": "private"},
                "date": int(time.time()),
                "text": text_of(n),
            },
        }
    )
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": inbox.secrets["webhook_secret"]}
    return InboundCall(inbox.webhook_path, body, headers, f"{user_id}:{n + 1}", ("telegram", str(user_id)))


# --------------------------------------------------------------------------- Messenger and Instagram Direct


def _meta_settings(run_id: str, id_field: str) -> tuple[dict[str, Any], dict[str, str]]:
    settings = {id_field: _run_number(run_id, id_field, 15), "graph_base_url": f"{CLOSED}/v21.0"}
    return settings, {"access_token": f"EAAG-bench-{run_id}", "app_secret": f"bench-{id_field}-secret-{run_id}"}


def messenger_settings(run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    return _meta_settings(run_id, "page_id")


def instagram_settings(run_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    settings, secrets = _meta_settings(run_id, "account_id")
    return {**settings, "page_id": _run_number(run_id, "ig-page", 15)}, secrets  # the page it sends through


def meta_call(inbox: BenchInbox, n: int, account: str, sender: str) -> InboundCall:
    """The Messenger Platform's ``messages`` webhook with one text message from ``sender`` (a page- or
    account-scoped id), signed with ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body, app secret)."""
    now = int(time.time() * 1000)
    mid = f"m_bench{inbox.run_id}{inbox.kind}{n:08d}"
    event = {
        "sender": {"id": sender},
        "recipient": {"id": account},
        "timestamp": now,
        "message": {"mid": mid, "text": text_of(n)},
    }
    body = _compact(
        {
            "object": "page" if inbox.kind == "messenger" else "instagram",
            "entry": [{"id": account, "time": now, "messaging": [event]}],
        }
    )
    digest = hmac.new(inbox.secrets["app_secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
    return InboundCall(inbox.webhook_path, body, headers, mid, (inbox.kind, f"{account}:{sender}"))


def messenger_request(inbox: BenchInbox, n: int) -> InboundCall:
    return meta_call(inbox, n, inbox.settings["page_id"], str(24_000_000_000_000_000 + n))


def instagram_request(inbox: BenchInbox, n: int) -> InboundCall:
    return meta_call(inbox, n, inbox.settings["account_id"], str(17_000_000_000_000_000 + n))


# The baseline first; the others in the order they were added.
BASELINE = "api"
CASES: dict[str, ChannelCase] = {
    "api": ChannelCase("api", api_settings, api_request),
    "whatsapp": ChannelCase("whatsapp", whatsapp_settings, whatsapp_request),
    "whatsapp-app": ChannelCase("whatsapp", whatsapp_app_settings, whatsapp_app_request),
    "sms-twilio": ChannelCase("sms", sms_twilio_settings, sms_twilio_request, answers_ids=False),
    "sms-vonage": ChannelCase("sms", sms_vonage_settings, sms_vonage_request),
    "telegram": ChannelCase("telegram", telegram_settings, telegram_request, answers_ids=False),
    "messenger": ChannelCase("messenger", messenger_settings, messenger_request),
    "instagram": ChannelCase("instagram", instagram_settings, instagram_request),
}
