"""The Telegram sandbox's customer side: ``Update`` objects as Telegram builds them, delivered to the
bot's webhook with its secret token (retried on non-2xx, duplicated on request) or queued for ``getUpdates``.

Shapes follow the Bot API's ``Update``, ``Message``, ``CallbackQuery``, ``PhotoSize``,
``Document``, ``Voice``, ``Location`` and ``Contact`` objects (https://core.telegram.org/bots/api#available-types);
webhook calls carry ``X-Telegram-Bot-Api-Secret-Token`` (https://core.telegram.org/bots/api#setwebhook).
Telegram retries an update its webhook did not answer 2xx ("we will give up after a reasonable
amount of attempts"); the sandbox retries ``RETRIES`` times, quickly, so tests see the retry. A
webhook's answer may itself be a Bot API call (``{"method": "answerCallbackQuery", ...}``), which
Telegram runs: so does the sandbox.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from raccordo.sandbox.telegram_state import SANDBOX, Bot, now

RETRIES = 4
RETRY_DELAYS = (0.1, 0.3, 0.9, 2.7)


def user_object(user_id: int, first_name: str, last_name: str = "", username: str = "") -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "it"}
    if last_name:
        user["last_name"] = last_name
    if username:
        user["username"] = username
    return user


def private_chat(user: dict[str, Any]) -> dict[str, Any]:
    chat: dict[str, Any] = {k: user[k] for k in ("id", "first_name", "last_name", "username") if k in user}
    return {**chat, "type": "private"}


def new_update(bot: Bot, body: dict[str, Any]) -> dict[str, Any]:
    with SANDBOX.lock:
        update_id = bot.next_update_id
        bot.next_update_id += 1
    return {"update_id": update_id, **body}


def customer_message(bot: Bot, user: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    """A ``message`` update: ``content`` is the message's own fields (``text``/``entities``, ``photo``...)."""
    with SANDBOX.lock:
        bot.users[int(user["id"])] = user
        message_id = bot.next_message_id(int(user["id"]))
    message = {"message_id": message_id, "from": user, "chat": private_chat(user), "date": now(), **content}
    shown = content.get("text") or content.get("caption") or next(iter(content), "message")
    bot.received.append({"user_id": user["id"], "message_id": message_id, "text": str(shown), "at": time.time()})
    return new_update(bot, {"message": message})


def edited_message(bot: Bot, user: dict[str, Any], message_id: int, text: str) -> dict[str, Any]:
    original = next((m for m in bot.received if m["user_id"] == user["id"] and m["message_id"] == message_id), None)
    date = int(original["at"]) if original else now()
    if original:
        original["text"] = text
    message = {
        "message_id": message_id,
        "from": user,
        "chat": private_chat(user),
        "date": date,
        "edit_date": now() if now() > date else date + 1,
        "text": text,
    }
    return new_update(bot, {"edited_message": message})


def callback_query(bot: Bot, user: dict[str, Any], message_id: int, data: str) -> dict[str, Any]:
    """The customer pressed a button of the inline keyboard of the bot's message ``message_id``."""
    sent = next((s for s in bot.sent if s["chat_id"] == user["id"] and s["message_id"] == message_id), None)
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": bot.user_object(),
        "chat": private_chat(user),
        "date": int(sent["at"]) if sent else now(),
        "text": sent["text"] if sent else "",
    }
    if sent and sent.get("reply_markup"):
        message["reply_markup"] = sent["reply_markup"]
    query = {
        "id": str(abs(hash((bot.id, user["id"], message_id, data, time.time_ns()))) % 10**18),
        "from": user,
        "message": message,
        "chat_instance": str(abs(hash((bot.id, user["id"]))) % 10**18),
        "data": data,
    }
    bot.received.append({"user_id": user["id"], "message_id": None, "text": f"[{data}]", "at": time.time()})
    return new_update(bot, {"callback_query": query})


def dispatch(bot: Bot, update: dict[str, Any], *, duplicate: bool = False) -> list[dict[str, Any]]:
    """To the webhook when one is set (the deliveries made), else queued for ``getUpdates``."""
    if not bot.webhook_url:
        with bot.changed:
            bot.queue.append(update)
            if duplicate:  # an update served twice (a poller's connection dropped before the answer)
                bot.queue.append(dict(update))
            bot.changed.notify_all()
        return []
    return deliver(bot, update, duplicate=duplicate)


def deliver(bot: Bot, update: dict[str, Any], *, duplicate: bool = False) -> list[dict[str, Any]]:
    body = json.dumps(update, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if bot.secret_token:
        headers["X-Telegram-Bot-Api-Secret-Token"] = bot.secret_token
    attempts: list[dict[str, Any]] = []
    for copy in range(2 if duplicate else 1):
        for attempt in range(RETRIES + 1):
            answer: httpx.Response | None = None
            try:
                answer = httpx.post(bot.webhook_url, content=body, headers=headers, timeout=15)
                status: int | str = answer.status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            attempts.append({"copy": copy, "attempt": attempt, "status": status, "update_id": update["update_id"]})
            if answer is not None and 200 <= answer.status_code < 300:
                _run_answer(bot, answer)
                break
            bot.last_error_date = now()
            bot.last_error_message = f"Wrong response from the webhook: {status}"
            if attempt < RETRIES:
                time.sleep(RETRY_DELAYS[attempt])
    bot.deliveries.extend(attempts)
    return attempts


def _run_answer(bot: Bot, answer: httpx.Response) -> None:
    """A webhook's answer that is a Bot API call; only the calls the sandbox plays are run."""
    try:
        data = answer.json()
    except ValueError:
        return
    if isinstance(data, dict) and data.get("method") == "answerCallbackQuery" and data.get("callback_query_id"):
        bot.calls.append("answerCallbackQuery")
        bot.answered_callbacks.append(str(data["callback_query_id"]))
