"""The Telegram Bot API calls the channel makes, each turning Telegram's answer into a result or a ``BotApiFailure``.

Every call is ``POST https://api.telegram.org/bot<token>/<method>`` (the base URL is an inbox
setting, so the tests and the demo point it at the provider sandbox) with JSON parameters, or
multipart when a file is uploaded; every answer is ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code", "description", "parameters": {"retry_after", "migrate_to_chat_id"}}``
(https://core.telegram.org/bots/api#making-requests, #responseparameters). Files are downloaded from
``https://api.telegram.org/file/bot<token>/<file_path>`` after ``getFile`` (https://core.telegram.org/bots/api#getfile).
The token is part of every URL: it is never logged or put in an error message (httpx's own
exception texts name the URL, so only the exception's type is kept).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://api.telegram.org"
# httpx logs every request's URL at INFO ("HTTP Request: POST https://api.telegram.org/bot<token>/..."),
# and the Bot API puts the token in the path: the filter below writes it out of those records.
_TOKEN_IN_PATH = re.compile(r"/(file/)?bot[^/\s]+/")


def hide_token(text: str) -> str:
    return _TOKEN_IN_PATH.sub(lambda m: f"/{m.group(1) or ''}bot<token>/", text)


class _HideBotToken(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("/bot" in str(a) for a in record.args):
            record.args = tuple(hide_token(str(a)) if "/bot" in str(a) else a for a in record.args)
        return True


logging.getLogger("httpx").addFilter(_HideBotToken())


class BotApiFailure(Exception):
    """A call Telegram refused (``error_code``, ``description``) or that did not reach it (no code)."""

    def __init__(
        self,
        method: str,
        error_code: int | None,
        description: str,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{method}: {error_code or 'unreachable'} {description}".strip())
        self.method = method
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    @property
    def unreachable(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True)
class BotApi:
    base_url: str
    token: str
    timeout: float = 15.0

    def _url(self, method: str) -> str:
        return f"{self.base_url.rstrip('/')}/bot{self.token}/{method}"

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """One Bot API method; its ``result``. With ``files`` the parameters go as multipart form fields
        (objects such as ``reply_markup`` JSON-serialized, as the Bot API reads them)."""
        try:
            if files:
                form = {k: v if isinstance(v, str) else _json(v) for k, v in (params or {}).items() if v is not None}
                response = httpx.post(self._url(method), data=form, files=files, timeout=timeout or self.timeout)
            else:
                response = httpx.post(self._url(method), json=params or {}, timeout=timeout or self.timeout)
        except httpx.HTTPError as exc:
            raise BotApiFailure(method, None, type(exc).__name__) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise BotApiFailure(method, response.status_code, f"not a Bot API answer (HTTP {response.status_code})")
        if not answer.get("ok"):
            given = answer.get("parameters")
            parameters: dict[str, Any] = given if isinstance(given, dict) else {}
            retry_after = parameters.get("retry_after")
            code = answer.get("error_code")
            raise BotApiFailure(
                method,
                code if isinstance(code, int) else response.status_code,
                str(answer.get("description") or ""),
                retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
            )
        return answer.get("result")

    def download(self, file_path: str) -> bytes:
        """A file ``getFile`` named, from ``/file/bot<token>/<file_path>``."""
        url = f"{self.base_url.rstrip('/')}/file/bot{self.token}/{file_path.lstrip('/')}"
        try:
            response = httpx.get(url, timeout=max(self.timeout, 60.0))
        except httpx.HTTPError as exc:
            raise BotApiFailure("download", None, type(exc).__name__) from None
        if response.status_code != 200:
            raise BotApiFailure("download", response.status_code, f"HTTP {response.status_code}")
        return response.content

    # --- the methods, named as Telegram names them ------------------------------------------------

    def get_me(self) -> dict[str, Any]:
        return dict(self.call("getMe") or {})

    def set_webhook(self, url: str, secret_token: str, allowed_updates: list[str]) -> None:
        self.call(
            "setWebhook",
            {"url": url, "secret_token": secret_token, "allowed_updates": allowed_updates, "max_connections": 40},
        )

    def delete_webhook(self) -> None:
        self.call("deleteWebhook", {"drop_pending_updates": False})

    def get_webhook_info(self) -> dict[str, Any]:
        return dict(self.call("getWebhookInfo") or {})

    def get_updates(self, offset: int | None, timeout: int, allowed_updates: list[str]) -> list[dict[str, Any]]:
        """Long polling: Telegram holds the request up to ``timeout`` seconds when nothing is waiting."""
        params: dict[str, Any] = {"timeout": timeout, "allowed_updates": allowed_updates, "limit": 100}
        if offset is not None:
            params["offset"] = offset
        result = self.call("getUpdates", params, timeout=timeout + self.timeout)
        return [u for u in result or [] if isinstance(u, dict)]

    def get_file(self, file_id: str) -> dict[str, Any]:
        return dict(self.call("getFile", {"file_id": file_id}) or {})

    def answer_callback_query(self, callback_query_id: str) -> None:
        self.call("answerCallbackQuery", {"callback_query_id": callback_query_id})


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
