"""The Graph API calls of Messenger and Instagram Direct, each turning Meta's answer into a result or a ``SendFailure``.

Endpoints (Send API reference, https://developers.facebook.com/docs/messenger-platform/reference/send-api/;
attachment upload, https://developers.facebook.com/docs/messenger-platform/reference/attachment-upload-api/):
``POST /{page-id}/messages`` (send; for Instagram the page linked to the professional account,
or ``/me/messages`` with its page token), ``POST /{page-id}/message_attachments`` (multipart
upload, answers an ``attachment_id``), ``GET /{page-id}?fields=id,name`` and
``GET /{page-id}/subscribed_apps`` (the connection check). Every call carries the page access
token as a bearer token; it is never logged or put in an error message. Received attachments
are public CDN URLs fetched without the token (``download``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from raccordo.channels.domain.retry import retry_after_seconds
from raccordo.channels.messenger import errors

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"


class SendFailure(Exception):
    """A call Meta refused or that did not reach Meta; ``error`` says which code, ``retry_after`` Meta's wait."""

    def __init__(self, error: errors.SendError, what: str, retry_after: float | None = None) -> None:
        super().__init__(f"{what}: {error.describe()}")
        self.error = error
        self.what = what
        self.retry_after = retry_after


@dataclass(frozen=True)
class Graph:
    base_url: str
    access_token: str
    timeout: float = 15.0

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def _json(self, what: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = httpx.request(method, self._url(path), headers=self._headers, timeout=self.timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise SendFailure(errors.SendError(None, message=type(exc).__name__), what) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            error = errors.from_body(data, response.status_code)
            wait = retry_after_seconds(response.headers.get("retry-after"))
            if wait is None and error.rate_limited:
                wait = errors.RATE_LIMIT_WAIT
            raise SendFailure(error, what, wait)
        if not isinstance(data, dict):
            raise SendFailure(errors.SendError(None, message="not JSON", http_status=response.status_code), what)
        return data

    def send(self, page_id: str, payload: dict[str, Any]) -> str:
        """Send one message; returns its ``message_id`` (the ``mid`` its delivery and read events name)."""
        data = self._json("send", "POST", f"{page_id or 'me'}/messages", json=payload)
        if not data.get("message_id"):
            raise SendFailure(errors.SendError(None, message="no message_id in the answer"), "send")
        return str(data["message_id"])

    def upload(self, page_id: str, kind: str, filename: str, content_type: str, data: bytes) -> str:
        """Upload a file for an attachment message; returns its reusable ``attachment_id``."""
        message = {"attachment": {"type": kind, "payload": {"is_reusable": True}}}
        answer = self._json(
            "upload",
            "POST",
            f"{page_id or 'me'}/message_attachments",
            data={"message": json.dumps(message)},
            files={"filedata": (filename, data, content_type)},
        )
        if not answer.get("attachment_id"):
            raise SendFailure(errors.SendError(None, message="no attachment_id in the answer"), "upload")
        return str(answer["attachment_id"])

    def page(self, page_id: str) -> dict[str, Any]:
        return self._json("page", "GET", page_id, params={"fields": "id,name"})

    def subscribed_apps(self, page_id: str) -> list[dict[str, Any]]:
        data = self._json("subscribed_apps", "GET", f"{page_id}/subscribed_apps")
        return [app for app in data.get("data") or [] if isinstance(app, dict)]

    def download(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        """A received attachment from its CDN URL and its content type (at most ``max_bytes``)."""
        try:
            with httpx.stream("GET", url, timeout=self.timeout, follow_redirects=True) as response:
                if response.status_code >= 400:
                    raise SendFailure(errors.SendError(None, http_status=response.status_code), "download")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise SendFailure(errors.SendError(None, message="file too large", http_status=413), "download")
                    chunks.append(chunk)
                content_type = response.headers.get("content-type") or "application/octet-stream"
        except httpx.HTTPError as exc:
            raise SendFailure(errors.SendError(None, message=type(exc).__name__), "download") from None
        return b"".join(chunks), content_type.split(";", 1)[0].strip()
