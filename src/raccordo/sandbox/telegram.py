"""The Telegram Bot API, as the sandbox plays it: the methods a channel calls, and a control API.

Bot side (https://core.telegram.org/bots/api): ``/bot<token>/<method>`` by GET or POST, with the
parameters as a query string, JSON or multipart form (as Telegram reads them): ``getMe``,
``setWebhook`` (``url``, ``secret_token`` of 1-256 ``A-Za-z0-9_-``, ``allowed_updates``),
``deleteWebhook``, ``getWebhookInfo``, ``getUpdates`` (``offset`` confirms the updates below it,
``timeout`` long-polls; 409 while a webhook is set), ``sendMessage``, ``sendPhoto``,
``sendDocument`` (multipart upload), ``getFile`` and the download ``/file/bot<token>/<file_path>``,
``answerCallbackQuery``. A wrong token is ``401 Unauthorized``; a chat that never wrote to the bot
is ``400 Bad Request: chat not found``; a customer who blocked the bot is ``403 Forbidden: bot
was blocked by the user``; errors queued through the control API (a 429 with ``retry_after``, a
500) are answered to the next sends. Unlike Telegram, the sandbox accepts an ``http://`` webhook
(it is a loopback server).

Control side (``/_sandbox/telegram/...``, for tests, the demo and the customer page): register a
bot (its token), write as a customer (text with entities, photo, document, voice, video, sticker,
location, contact, an edit, an inline button press; duplicated on request), queue errors, block
the bot for a user, read what the bot sent and the webhook deliveries.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from raccordo.sandbox import telegram_customer as customer
from raccordo.sandbox.telegram_state import SANDBOX, Bot, BotApiError, now

ROUTER = APIRouter(tags=["telegram sandbox"])
_BODY = Body(...)
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_FILE_KINDS = {
    "photo": ("photos", ".jpg"),
    "document": ("documents", ""),
    "voice": ("voice", ".oga"),
    "video": ("videos", ".mp4"),
    "sticker": ("stickers", ".webp"),
}


def _error(exc: BotApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.error_code)


# --- control API ------------------------------------------------------------------------------------


@ROUTER.post("/_sandbox/telegram/bots")
def register_bot(data: dict[str, Any] = _BODY) -> dict[str, Any]:
    """``{"token", "username", "first_name"}``; registering a token again keeps its state."""
    token = str(data["token"])
    with SANDBOX.lock:
        bot = SANDBOX.bots.get(token)
        if bot is None:
            bot = SANDBOX.bots[token] = Bot(
                token, str(data.get("username") or "sandbox_bot"), str(data.get("first_name") or "Sandbox Bot")
            )
    return {"id": bot.id, "username": bot.username}


def _file_content(bot: Bot, kind: str, file: dict[str, Any]) -> dict[str, Any]:
    data = base64.b64decode(file["data_base64"])
    folder, extension = _FILE_KINDS[kind]
    content_type = str(file.get("content_type") or "application/octet-stream")
    item = SANDBOX.add_file(data, content_type, folder, extension)
    base = {"file_id": item.file_id, "file_unique_id": item.file_unique_id, "file_size": len(data)}
    if kind == "photo":
        # Telegram sends every size it made, smallest first; the product takes the largest.
        thumb = SANDBOX.add_file(data[: max(1, len(data) // 4)], content_type, folder, extension)
        return {
            "photo": [
                {
                    "file_id": thumb.file_id,
                    "file_unique_id": thumb.file_unique_id,
                    "width": 90,
                    "height": 90,
                    "file_size": len(thumb.data),
                },
                {**base, "width": 800, "height": 800},
            ]
        }
    if kind == "document":
        return {"document": {**base, "file_name": str(file.get("filename") or "file"), "mime_type": content_type}}
    if kind == "voice":
        return {"voice": {**base, "duration": 3, "mime_type": content_type}}
    if kind == "video":
        return {"video": {**base, "width": 640, "height": 360, "duration": 5, "mime_type": content_type}}
    return {
        "sticker": {
            **base,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": str(file.get("emoji") or "👍"),
        }
    }


@ROUTER.post("/_sandbox/telegram/bots/{bot_id}/users/{user_id}/messages")
def customer_writes(bot_id: int, user_id: int, data: dict[str, Any] = _BODY) -> Response:
    """The customer does something in the chat with the bot. ``type``: ``text`` (``text``, ``entities``),
    ``photo`` / ``document`` / ``voice`` / ``video`` / ``sticker`` (``file``: ``{"filename", "content_type",
    "data_base64"}``, ``caption``), ``location`` (``latitude``, ``longitude``), ``contact`` (``phone_number``,
    ``own``: the customer's own number), ``edit`` (``message_id``, ``text``), ``callback`` (``message_id``,
    ``data``). ``first_name``, ``last_name``, ``username``; ``duplicate``: the update is sent twice."""
    try:
        bot = SANDBOX.bot_by_id(bot_id)
    except BotApiError as exc:
        return _error(exc)
    user = customer.user_object(
        user_id,
        str(data.get("first_name") or "Cliente"),
        str(data.get("last_name") or ""),
        str(data.get("username") or ""),
    )
    kind = str(data.get("type") or "text")
    if kind == "edit":
        update = customer.edited_message(bot, user, int(data["message_id"]), str(data.get("text") or ""))
    elif kind == "callback":
        update = customer.callback_query(bot, user, int(data["message_id"]), str(data.get("data") or ""))
    else:
        content: dict[str, Any]
        if kind in _FILE_KINDS:
            content = _file_content(bot, kind, dict(data.get("file") or {}))
            if data.get("caption"):
                content["caption"] = str(data["caption"])
                if data.get("caption_entities"):
                    content["caption_entities"] = data["caption_entities"]
        elif kind == "location":
            content = {"location": {"latitude": float(data["latitude"]), "longitude": float(data["longitude"])}}
        elif kind == "contact":
            contact: dict[str, Any] = {"phone_number": str(data["phone_number"]), "first_name": user["first_name"]}
            if data.get("own", True):
                contact["user_id"] = user_id
            content = {"contact": contact}
        else:
            content = {"text": str(data.get("text") or "")}
            if data.get("entities"):
                content["entities"] = data["entities"]
        update = customer.customer_message(bot, user, content)
    deliveries = customer.dispatch(bot, update, duplicate=bool(data.get("duplicate")))
    body = update.get("message") or update.get("edited_message") or {}
    return JSONResponse(
        {"update_id": update["update_id"], "message_id": body.get("message_id"), "deliveries": deliveries}
    )


@ROUTER.post("/_sandbox/telegram/bots/{bot_id}/control")
def control(bot_id: int, data: dict[str, Any] = _BODY) -> Response:
    """``fail_next``: ``[{"error_code", "description", "retry_after"}]`` for the next sends; ``blocked``:
    user ids who blocked the bot; ``unblocked``: user ids who started it again; ``started``:
    ``[{"id", "first_name"}]``, customers who started the bot before (the bot may write to them)."""
    try:
        bot = SANDBOX.bot_by_id(bot_id)
    except BotApiError as exc:
        return _error(exc)
    with SANDBOX.lock:
        for item in data.get("fail_next") or []:
            code = int(item["error_code"])
            default = "Too Many Requests: retry after" if code == 429 else "Internal Server Error"
            retry_after = item.get("retry_after")
            description = str(item.get("description") or f"{default}{f' {retry_after}' if retry_after else ''}")
            bot.fail_next.append(BotApiError(code, description, int(retry_after) if retry_after else None))
        for user in data.get("started") or []:  # customers who pressed Start earlier (a demo's history)
            started = customer.user_object(int(user["id"]), str(user.get("first_name") or "Cliente"))
            bot.users.setdefault(started["id"], started)
        bot.blocked.update(int(u) for u in data.get("blocked") or [])
        bot.blocked.difference_update(int(u) for u in data.get("unblocked") or [])
    return JSONResponse({"ok": True})


@ROUTER.get("/_sandbox/telegram/bots/{bot_id}")
def bot_state(bot_id: int) -> Response:
    try:
        bot = SANDBOX.bot_by_id(bot_id)
    except BotApiError as exc:
        return _error(exc)
    return JSONResponse(
        {
            "webhook_url": bot.webhook_url,
            "secret_token_set": bool(bot.secret_token),
            "queued": len(bot.queue),
            "sent": bot.sent,
            "received": bot.received,
            "deliveries": bot.deliveries,
            "answered_callbacks": bot.answered_callbacks,
            "calls": bot.calls,
        }
    )


# --- Bot API ----------------------------------------------------------------------------------------


@ROUTER.get("/file/bot{token}/{file_path:path}")
def download(token: str, file_path: str) -> Response:
    try:
        SANDBOX.bot(token)
    except BotApiError as exc:
        return _error(exc)
    item = next((f for f in SANDBOX.files.values() if f.file_path == file_path), None)
    if item is None:
        return _error(BotApiError(404, "Not Found"))
    return Response(item.data, media_type=item.content_type)


@ROUTER.api_route("/bot{token}/{method}", methods=["GET", "POST"])
async def bot_api(token: str, method: str, request: Request) -> Response:
    params: dict[str, Any] = dict(request.query_params)
    files: dict[str, tuple[str, str, bytes]] = {}
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith("application/json"):
        try:
            given = await request.json()
        except ValueError:
            return _error(BotApiError(400, "Bad Request: can't parse JSON"))
        params.update(given if isinstance(given, dict) else {})
    elif request.method == "POST" and content_type.startswith(("multipart/form-data", "application/x-www-form")):
        form = await request.form()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[key] = (
                    value.filename or key,
                    value.content_type or "application/octet-stream",
                    await value.read(),
                )
            else:
                params[key] = value
    try:
        bot = SANDBOX.bot(token)
        with SANDBOX.lock:
            bot.calls.append(method)
        result = await run_in_threadpool(_call, bot, method, params, files)
    except BotApiError as exc:
        return _error(exc)
    return JSONResponse({"ok": True, "result": result})


def _json_param(params: dict[str, Any], name: str) -> Any:
    """An object parameter: JSON-serialized in a query or a form, itself in a JSON body."""
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise BotApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    return value


def _call(bot: Bot, method: str, params: dict[str, Any], files: dict[str, tuple[str, str, bytes]]) -> Any:
    handler = _METHODS.get(method)
    if handler is None:
        raise BotApiError(404, "Not Found")
    return handler(bot, params, files)


def _get_me(bot: Bot, params: dict[str, Any], files: Any) -> Any:
    return {
        **bot.user_object(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def _set_webhook(bot: Bot, params: dict[str, Any], files: Any) -> Any:
    url = str(params.get("url") or "")
    secret = str(params.get("secret_token") or "")
    if secret and not _SECRET_TOKEN.match(secret):
        raise BotApiError(400, "Bad Request: secret token contains unallowed characters")
    if url and not url.startswith(("http://", "https://")):
        raise BotApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    with SANDBOX.lock:
        bot.webhook_url, bot.secret_token = url, secret
        bot.allowed_updates = list(_json_param(params, "allowed_updates") or [])
        bot.last_error_message, bot.last_error_date = "", 0
    return True


def _delete_webhook(bot: Bot, params: dict[str, Any], files: Any) -> Any:
    with SANDBOX.lock:
        bot.webhook_url, bot.secret_token = "", ""
        if str(params.get("drop_pending_updates")).lower() == "true":
            bot.queue.clear()
    return True


def _webhook_info(bot: Bot, params: dict[str, Any], files: Any) -> Any:
    info: dict[str, Any] = {
        "url": bot.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": len(bot.queue),
        "max_connections": 40,
    }
    if bot.allowed_updates:
        info["allowed_updates"] = bot.allowed_updates
    if bot.last_error_message:
        info.update(last_error_date=bot.last_error_date, last_error_message=bot.last_error_message)
    return info


def _get_updates(bot: Bot, params: dict[str, Any], files: Any) -> Any:
    if bot.webhook_url:
        raise BotApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active;"
            " use deleteWebhook to delete the webhook first",
        )
    offset = int(params["offset"]) if params.get("offset") not in (None, "") else None
    timeout = min(float(params.get("timeout") or 0), 50.0)
    limit = min(max(int(params.get("limit") or 100), 1), 100)
    deadline = time.monotonic() + timeout
    with bot.changed:
        if offset is not None:  # confirmed: Telegram forgets them
            bot.queue = [u for u in bot.queue if u["update_id"] >= offset]
        while not bot.queue and time.monotonic() < deadline:
            bot.changed.wait(deadline - time.monotonic())
        return list(bot.queue[:limit])


def _chat(bot: Bot, params: dict[str, Any]) -> int:
    try:
        chat_id = int(str(params.get("chat_id")))
    except ValueError:
        raise BotApiError(400, "Bad Request: chat not found") from None
    with SANDBOX.lock:
        if bot.fail_next:
            raise bot.fail_next.pop(0)
        if chat_id not in bot.users:
            raise BotApiError(400, "Bad Request: chat not found")
        if chat_id in bot.blocked:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
    return chat_id


def _record(bot: Bot, chat_id: int, message: dict[str, Any], text: str, markup: Any) -> dict[str, Any]:
    with SANDBOX.lock:
        message_id = bot.next_message_id(chat_id)
        sent = {"chat_id": chat_id, "message_id": message_id, "text": text, "at": time.time()}
        if markup:
            sent["reply_markup"] = markup
        bot.sent.append({**sent, "message": message})
    user = bot.users[chat_id]
    return {
        "message_id": message_id,
        "from": bot.user_object(),
        "chat": customer.private_chat(user),
        "date": now(),
        **message,
        **({"reply_markup": markup} if markup else {}),
    }


def _send_message(bot: Bot, params: dict[str, Any], files: Any) -> Any:
    text = str(params.get("text") or "")
    if not text.strip():
        raise BotApiError(400, "Bad Request: message text is empty")
    if len(text) > 4096:
        raise BotApiError(400, "Bad Request: message is too long")
    chat_id = _chat(bot, params)
    return _record(bot, chat_id, {"text": text}, text, _json_param(params, "reply_markup"))


def _send_file(kind: str) -> Any:
    def send(bot: Bot, params: dict[str, Any], files: dict[str, tuple[str, str, bytes]]) -> Any:
        if kind not in files:
            raise BotApiError(400, f"Bad Request: there is no {kind} in the request")
        caption = str(params.get("caption") or "")
        if len(caption) > 1024:
            raise BotApiError(400, "Bad Request: message caption is too long")
        chat_id = _chat(bot, params)
        filename, content_type, data = files[kind]
        folder, extension = _FILE_KINDS[kind]
        item = SANDBOX.add_file(data, content_type, folder, extension)
        base = {"file_id": item.file_id, "file_unique_id": item.file_unique_id, "file_size": len(data)}
        body: dict[str, Any] = (
            {"photo": [{**base, "width": 800, "height": 800}]}
            if kind == "photo"
            else {"document": {**base, "file_name": filename, "mime_type": content_type}}
        )
        if caption:
            body["caption"] = caption
        return _record(bot, chat_id, body, caption or f"[{kind} {filename}]", _json_param(params, "reply_markup"))

    return send


def _get_file(bot: Bot, params: dict[str, Any], files: Any) -> Any:
    item = SANDBOX.files.get(str(params.get("file_id") or ""))
    if item is None:
        raise BotApiError(400, "Bad Request: invalid file_id")
    return {
        "file_id": item.file_id,
        "file_unique_id": item.file_unique_id,
        "file_size": len(item.data),
        "file_path": item.file_path,
    }


def _answer_callback(bot: Bot, params: dict[str, Any], files: Any) -> Any:
    if not params.get("callback_query_id"):
        raise BotApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
    with SANDBOX.lock:
        bot.answered_callbacks.append(str(params["callback_query_id"]))
    return True


_METHODS = {
    "getMe": _get_me,
    "setWebhook": _set_webhook,
    "deleteWebhook": _delete_webhook,
    "getWebhookInfo": _webhook_info,
    "getUpdates": _get_updates,
    "sendMessage": _send_message,
    "sendPhoto": _send_file("photo"),
    "sendDocument": _send_file("document"),
    "getFile": _get_file,
    "answerCallbackQuery": _answer_callback,
}
