"""Meta's documented webhook payloads, as fixtures.

Each builder follows the sample of Meta's messages webhook reference
(https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages,
one page per type: ``.../messages/text``, ``/image``, ``/audio``, ``/video``, ``/document``, ``/sticker``,
``/location``, ``/contacts``, ``/interactive``, ``/button``, ``/reaction``, ``/unsupported``) and its status
reference (``.../reference/messages/status``); the values are the documented examples'.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

WABA_ID = "102290129340398"
CUSTOMER = "16505551234"  # wa_id of the documented samples (an E.164 number without "+")


def envelope(phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def message(
    phone_number_id: str, kind: str, body: Any, *, wamid: str, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {"from": CUSTOMER, "id": wamid, "timestamp": "1749416383", "type": kind}
    if kind == "contacts":
        item["contacts"] = body
    elif kind == "unsupported":
        # .../messages/unsupported: the type Meta does not pass on, with error 131051.
        item["errors"] = [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ]
    else:
        item[kind] = body
    if context:
        item["context"] = context
    return envelope(
        phone_number_id, {"contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": CUSTOMER}], "messages": [item]}
    )


def status(phone_number_id: str, wamid: str, state: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": wamid, "status": state, "timestamp": "1750263773", "recipient_id": CUSTOMER}
    if errors:
        item["errors"] = errors
    return envelope(phone_number_id, {"statuses": [item]})


# One sample body per documented type (the reference pages' examples).
SAMPLES: dict[str, Any] = {
    "text": {"body": "Does it come in another color?"},
    "image": {
        "caption": "Black jacket",
        "mime_type": "image/jpeg",
        "sha256": "1ZbfkpKo4hIS4D5AKt7g8mHJpGB1EKiu2l2WmEUQX10=",
        "id": "1003383421387256",
    },
    "audio": {
        "mime_type": "audio/ogg; codecs=opus",
        "sha256": "WJ8bqXw2cF5OF3Ydju4y8Q5PSpQBStR2W4FQJlhOZ8g=",
        "id": "1003383421387257",
        "voice": True,
    },
    "video": {"mime_type": "video/mp4", "sha256": "abc=", "id": "1003383421387258", "caption": "Unboxing"},
    "document": {
        "caption": "Lucky Shrub Invoice",
        "filename": "lucky-shrub-invoice.pdf",
        "mime_type": "application/pdf",
        "sha256": "geqSTYWBXRT0mYqqCD8ryKBdlc6frzYKlE1UMx4kH2A=",
        "id": "1003383421387259",
    },
    "sticker": {"mime_type": "image/webp", "sha256": "xyz=", "id": "1003383421387260", "animated": False},
    "location": {
        "address": "101 Forest Ave, Palo Alto, CA 94301",
        "latitude": 37.44211676562361,
        "longitude": -122.16155960083124,
        "name": "Philz Coffee",
        "url": "https://philzcoffee.com/",
    },
    "contacts": [
        {
            "name": {"first_name": "Barbara", "last_name": "Johnson", "formatted_name": "Barbara J. Johnson"},
            "phones": [{"phone": "+1 (415) 555-0123", "wa_id": "14155550123", "type": "MOBILE"}],
        }
    ],
    "interactive_button": {"type": "button_reply", "button_reply": {"id": "yes-callback", "title": "Yes, call me"}},
    "interactive_list": {
        "type": "list_reply",
        "list_reply": {"id": "priority_express", "title": "Express shipping", "description": "Next day"},
    },
    "button": {"payload": "Unsubscribe", "text": "Unsubscribe"},
    "reaction": {"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3NDlCMzIyMDg5QTQ1NUIyQjUA", "emoji": "\U0001f44d"},
    "unsupported": None,
}


def signed(app_secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers Meta sends: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``."""
    body = json.dumps(payload).encode()
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
