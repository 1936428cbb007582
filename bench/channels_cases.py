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
channel has 347, WhatsApp 348 and 349), so no customer links across channels.

The request is built just before it is sent, so a timestamped signature is fresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


# The baseline first; the others in the order they were added.
BASELINE = "api"
CASES: dict[str, ChannelCase] = {
    "api": ChannelCase("api", api_settings, api_request),
    "whatsapp": ChannelCase("whatsapp", whatsapp_settings, whatsapp_request),
    "whatsapp-app": ChannelCase("whatsapp", whatsapp_app_settings, whatsapp_app_request),
}
