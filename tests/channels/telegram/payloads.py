"""Telegram updates as the Bot API documents them (https://core.telegram.org/bots/api#update and the
objects it holds: #message, #messageentity, #photosize, #document, #voice, #video, #sticker,
#location, #venue, #contact, #callbackquery), and the bot tokens the tests use."""

from __future__ import annotations

import uuid
from typing import Any

CUSTOMER = {
    "id": 111222333,
    "is_bot": False,
    "first_name": "Giulia",
    "last_name": "Bianchi",
    "username": "giuliab",
    "language_code": "it",
}
CHAT = {"id": 111222333, "first_name": "Giulia", "last_name": "Bianchi", "username": "giuliab", "type": "private"}


def new_token() -> str:
    return f"{uuid.uuid4().int % 10**9 + 10**9}:AA{uuid.uuid4().hex}"


def message_update(update_id: int, message_id: int, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    message = {"message_id": message_id, "from": CUSTOMER, "chat": CHAT, "date": 1733650000, **content}
    return {"update_id": update_id, "message": {**message, **extra}}


def _file(prefix: str, size: int, **fields: Any) -> dict[str, Any]:
    return {"file_id": f"{prefix}-file-id", "file_unique_id": f"{prefix}-unique", "file_size": size, **fields}


SAMPLES: dict[str, dict[str, Any]] = {
    "text": {
        "text": "Buongiorno, l'ordine 4411 non è arrivato: https://example.com/ordine",
        "entities": [{"offset": 0, "length": 10, "type": "bold"}, {"offset": 42, "length": 25, "type": "url"}],
    },
    "photo": {
        "photo": [_file("small", 1200, width=90, height=67), _file("large", 48000, width=1280, height=960)],
        "caption": "Il pacco rovinato",
    },
    "document": {"document": _file("doc", 5000, file_name="fattura.pdf", mime_type="application/pdf")},
    "voice": {"voice": _file("voice", 9000, duration=4, mime_type="audio/ogg")},
    "video": {"video": _file("video", 90000, width=640, height=360, duration=5, mime_type="video/mp4")},
    "sticker": {
        "sticker": _file(
            "sticker", 20000, type="regular", width=512, height=512, is_animated=False, is_video=False, emoji="😀"
        )
    },
    "location": {"location": {"latitude": 45.4642, "longitude": 9.19}},
    "venue": {
        "location": {"latitude": 45.4642, "longitude": 9.19},
        "venue": {
            "location": {"latitude": 45.4642, "longitude": 9.19},
            "title": "Duomo",
            "address": "Piazza del Duomo",
        },
    },
    "contact": {"contact": {"phone_number": "393471234567", "first_name": "Giulia", "user_id": CUSTOMER["id"]}},
    "poll": {"poll": {"id": "5", "question": "Sì o no?", "options": [], "total_voter_count": 0}},
}
