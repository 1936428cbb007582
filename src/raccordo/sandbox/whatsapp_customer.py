"""The WhatsApp sandbox's customer side: webhook calls signed like Meta's, retried, duplicated on request.

Payloads follow Meta's messages webhook reference
(https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages)
and its status reference (``.../reference/messages/status``); the signature is Meta's
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>``
(https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads).
Meta retries a delivery that is not answered 2xx, with decreasing frequency for up to 7 days; the
sandbox retries ``meta_webhook.RETRIES`` times, quickly, so tests see the retry without waiting.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from raccordo.sandbox.meta_webhook import post_signed
from raccordo.sandbox.whatsapp_state import Number


def envelope(number: Number, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": number.waba_id,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "".join(c for c in number.display_phone_number if c.isdigit()),
                                "phone_number_id": number.phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def deliver(number: Number, payload: dict[str, Any], *, duplicate: bool = False) -> list[dict[str, Any]]:
    """POST the payload to the number's webhook, signed; retried on non-2xx; sent twice when ``duplicate``."""
    attempts = post_signed(number.webhook_url, number.app_secret, payload, duplicate=duplicate)
    number.deliveries.extend(attempts)
    return attempts


def customer_message(
    number: Number, wa_id: str, name: str, kind: str, body: dict[str, Any], context_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A customer's message of any type, as the webhook carries it; returns its wamid and the payload."""
    wamid = f"wamid.SBX{uuid.uuid4().hex.upper()}"
    message: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": kind}
    if kind == "contacts":
        message["contacts"] = body.get("contacts", [])
    elif kind == "unsupported":
        message["errors"] = [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ]
    else:
        message[kind] = body
    if context_id:
        message["context"] = {"from": "".join(c for c in number.display_phone_number if c.isdigit()), "id": context_id}
    value = {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]}
    number.last_inbound[wa_id] = time.time()
    shown = body.get("body") or body.get("caption") or body.get("emoji") or f"[{kind}]"
    number.received.append({"id": wamid, "wa_id": wa_id, "type": kind, "text": str(shown), "at": time.time()})
    return wamid, envelope(number, value)


def statuses(number: Number, message_id: str, states: list[str], error_code: int | None = None) -> list[dict[str, Any]]:
    """One webhook payload per status, in the order given (out of order when the caller says so)."""
    sent = next((m for m in number.sent if m["id"] == message_id), None)
    recipient = sent["to"] if sent else ""
    payloads = []
    for state in states:
        status: dict[str, Any] = {
            "id": message_id,
            "status": state,
            "timestamp": str(int(time.time())),
            "recipient_id": recipient,
        }
        if state != "failed":
            status["pricing"] = {
                "billable": True,
                "pricing_model": "PMP",
                "category": "service",
                "type": "free_customer_service",
            }
        else:
            code = error_code or 131026
            status["errors"] = [
                {
                    "code": code,
                    "title": "Message undeliverable" if code == 131026 else "Failure",
                    "message": "Message undeliverable" if code == 131026 else "Failure",
                    "error_data": {"details": "Message Undeliverable."},
                }
            ]
        payloads.append(envelope(number, {"statuses": [status]}))
    return payloads


def report_now(number: Number, message_id: str) -> None:
    """The number's automatic statuses for a send, delivered at once, in the order configured."""
    states = list(reversed(number.auto_statuses)) if number.out_of_order else list(number.auto_statuses)
    for payload in statuses(number, message_id, states):
        deliver(number, payload)


def report_later(number: Number, message_id: str) -> None:
    """The number's automatic statuses for an accepted send, after its delay, in a thread of their own."""
    states = list(reversed(number.auto_statuses)) if number.out_of_order else list(number.auto_statuses)

    def run() -> None:
        # The provider's own timing (the phone answering), not a wait in a test.
        time.sleep(number.status_delay)
        for payload in statuses(number, message_id, states):
            deliver(number, payload)

    threading.Thread(target=run, name=f"sandbox-statuses-{message_id[-8:]}", daemon=True).start()
