"""The Telegram sandbox's memory: bots, their webhooks, queued updates, chats, sent messages and files.

Error shapes are the Bot API's (https://core.telegram.org/bots/api#making-requests):
``{"ok": false, "error_code", "description", "parameters": {"retry_after"}}``, with the
descriptions Telegram writes ("Unauthorized", "Bad Request: chat not found", "Forbidden: bot was
blocked by the user", "Too Many Requests: retry after N", "Conflict: can't use getUpdates method
while webhook is active; use deleteWebhook to delete the webhook first").
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


class BotApiError(Exception):
    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code, self.description, self.retry_after = error_code, description, retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


UNAUTHORIZED = BotApiError(401, "Unauthorized")


@dataclass
class File:
    file_id: str
    file_unique_id: str
    file_path: str
    content_type: str
    data: bytes


@dataclass
class Bot:
    token: str
    username: str
    first_name: str
    webhook_url: str = ""
    secret_token: str = ""
    allowed_updates: list[str] = field(default_factory=list)
    last_error_message: str = ""
    last_error_date: int = 0
    next_update_id: int = 100000001
    # Updates not yet confirmed by a getUpdates offset (polling), oldest first.
    queue: list[dict[str, Any]] = field(default_factory=list)
    # Per chat: the last message id used (customer and bot messages share one sequence, as in Telegram).
    message_ids: dict[int, int] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)  # those who started the bot
    received: list[dict[str, Any]] = field(default_factory=list)  # what customers wrote
    sent: list[dict[str, Any]] = field(default_factory=list)  # what the bot sent
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    answered_callbacks: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # every method called, in order
    fail_next: list[BotApiError] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def id(self) -> int:
        return int(self.token.split(":", 1)[0])

    def user_object(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    def next_message_id(self, chat_id: int) -> int:
        self.message_ids[chat_id] = self.message_ids.get(chat_id, 0) + 1
        return self.message_ids[chat_id]


class State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.bots: dict[str, Bot] = {}  # by token
        self.files: dict[str, File] = {}  # by file_id

    def bot(self, token: str) -> Bot:
        bot = self.bots.get(token)
        if bot is None:
            raise UNAUTHORIZED
        return bot

    def bot_by_id(self, bot_id: int) -> Bot:
        found = next((b for b in self.bots.values() if b.id == bot_id), None)
        if found is None:
            raise BotApiError(404, "Not Found: no such bot in the sandbox")
        return found

    def add_file(self, data: bytes, content_type: str, folder: str, extension: str) -> File:
        unique = uuid.uuid4().hex[:16]
        item = File(f"BQAC{uuid.uuid4().hex}", unique, f"{folder}/file_{unique}{extension}", content_type, data)
        with self.lock:
            self.files[item.file_id] = item
        return item


SANDBOX = State()


def now() -> int:
    return int(time.time())
