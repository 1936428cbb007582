"""Meta's documented Messenger and Instagram webhook payloads, as fixtures.

Messenger samples follow the webhook events reference, one page per field
(https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events:
``/messages``, ``/messaging_postbacks``, ``/message-reactions``, ``/message-deliveries``,
``/message-reads``, ``/message-echoes``); Instagram samples follow the Instagram messaging webhook
examples (https://developers.facebook.com/docs/instagram-platform/webhooks/examples/ and
https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook/: story mentions,
story replies, deleted messages, ``read.mid``). The documented ids (``mid.1457764197618:41d102a3e1ae206a38``,
watermark ``1458668856253``) are kept; ``<PSID>`` and ``<PAGE_ID>`` placeholders become numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

PSID = "1254477777772919"
IGSID = "17841405793187218"
OBJECTS = {"messenger": "page", "instagram": "instagram"}


def envelope(kind: str, account_id: str, *events: dict[str, Any]) -> dict[str, Any]:
    return {"object": OBJECTS[kind], "entry": [{"id": account_id, "time": 1458692752478, "messaging": list(events)}]}


def event(account_id: str, sender: str, **body: Any) -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": account_id}, "timestamp": 1458692752478, **body}


def signed(app_secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


# The ``message``/``postback``/``reaction``/``delivery``/``read`` object of each documented sample.
MESSENGER_SAMPLES: dict[str, dict[str, Any]] = {
    "text": {"message": {"mid": "mid.1457764197618:41d102a3e1ae206a38", "text": "hello, world!"}},
    "quick_reply": {
        "message": {
            "mid": "mid.1457764197618:41d102a3e1ae206a39",
            "text": "hello, world!",
            "quick_reply": {"payload": "DEVELOPER_DEFINED_PAYLOAD"},
        }
    },
    "image": {
        "message": {
            "mid": "mid.1458696618141:b4ef9d19ec21086067",
            "attachments": [{"type": "image", "payload": {"url": "https://scontent.example/image.jpg"}}],
        }
    },
    "video": {
        "message": {
            "mid": "mid.1458696618141:b4ef9d19ec21086068",
            "attachments": [{"type": "video", "payload": {"url": "https://scontent.example/video.mp4"}}],
        }
    },
    "audio": {
        "message": {
            "mid": "mid.1458696618141:b4ef9d19ec21086069",
            "attachments": [{"type": "audio", "payload": {"url": "https://cdn.fbsbx.example/audioclip.mp4"}}],
        }
    },
    "file": {
        "message": {
            "mid": "mid.1458696618141:b4ef9d19ec2108606a",
            "text": "la fattura",
            "attachments": [{"type": "file", "payload": {"url": "https://cdn.fbsbx.example/fattura.pdf"}}],
        }
    },
    "fallback": {
        "message": {
            "mid": "mid.1458696618141:b4ef9d19ec2108606b",
            "attachments": [{"type": "fallback", "title": "A shared link", "payload": {"url": "https://example.com"}}],
        }
    },
    "reply": {
        "message": {
            "mid": "m_reply_1",
            "text": "and this one?",
            "reply_to": {"mid": "mid.1457764197618:41d102a3e1ae206a38"},
        }
    },
    "postback": {"postback": {"mid": "m_postback_1", "title": "Get Started", "payload": "GET_STARTED"}},
    "reaction": {"reaction": {"reaction": "smile", "emoji": "\U0001f604", "action": "react", "mid": "m_our_message"}},
    "unreaction": {"reaction": {"action": "unreact", "mid": "m_our_message"}},
    "delivery": {"delivery": {"mids": ["mid.1458668856218:ed81099e15d3f4f233"], "watermark": 1458668856253}},
    "read": {"read": {"watermark": 1458668856253}},
}

INSTAGRAM_SAMPLES: dict[str, dict[str, Any]] = {
    "text": {"message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1NzkzMTg3MjE4", "text": "ciao!"}},
    "image": {
        "message": {
            "mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1NzkzMTg3MjE5",
            "attachments": [{"type": "image", "payload": {"url": "https://lookaside.fbsbx.example/ig_image.jpg"}}],
        }
    },
    "story_mention": {
        "message": {
            "mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1NzkzMTg3MjIw",
            "attachments": [{"type": "story_mention", "payload": {"url": "https://lookaside.fbsbx.example/story"}}],
        }
    },
    "story_reply": {
        "message": {
            "mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1NzkzMTg3MjIx",
            "text": "bellissimo!",
            "reply_to": {"story": {"url": "https://lookaside.fbsbx.example/story2", "id": "17900000000000000"}},
        }
    },
    "deleted": {"message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1NzkzMTg3MjE4", "is_deleted": True}},
    "unsupported": {
        "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1NzkzMTg3MjIy", "is_unsupported": True}
    },
    "reaction": {"reaction": {"mid": "m_our_message", "action": "react", "reaction": "love", "emoji": "\u2764\ufe0f"}},
    "postback": {"postback": {"mid": "m_ig_postback", "title": "Orari", "payload": "OPENING_HOURS"}},
    "read": {"read": {"mid": "m_our_message"}},
}
