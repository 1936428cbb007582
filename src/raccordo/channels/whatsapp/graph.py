"""The Graph API calls of the WhatsApp Cloud API, each turning Meta's answer into a result or a ``GraphError``.

Endpoints (Meta's Cloud API reference, https://developers.facebook.com/docs/whatsapp/cloud-api/reference):
``POST /{phone-number-id}/messages`` (send), ``POST /{phone-number-id}/media`` (upload, multipart),
``GET /{media-id}`` (a short-lived download URL) then ``GET <url>`` with the same bearer token,
``GET /{phone-number-id}`` (the number's details: the connection check) and
``GET /{waba-id}/message_templates`` (template sync) and ``POST /{waba-id}/message_templates`` (a
new template submitted for review). Every call carries the access token as a
bearer token; the token is never logged or put in an error message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import httpx

from raccordo.channels.whatsapp import errors

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"


def _seconds(header: str | None) -> float | None:
    """A ``Retry-After`` in seconds (the HTTP-date form is not used by Meta and is ignored)."""
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


class GraphFailure(Exception):
    """A call Meta refused or that did not reach Meta; ``error`` says which code and whether to retry."""

    def __init__(self, error: errors.GraphError, what: str) -> None:
        super().__init__(f"{what}: {error.title or error.details or error.http_status or 'unreachable'}")
        self.error = error
        self.what = what


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

    def _call(self, what: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = httpx.request(method, url, headers=self._headers, timeout=self.timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise GraphFailure(errors.GraphError(None, type(exc).__name__), what) from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            error = errors.from_body(body, response.status_code)
            wait = _seconds(response.headers.get("retry-after"))
            raise GraphFailure(replace(error, retry_after_header=wait) if wait is not None else error, what)
        return response

    def _json(self, what: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._call(what, method, self._url(path), **kwargs)
        try:
            data = response.json()
        except ValueError:
            raise GraphFailure(errors.GraphError(None, "not JSON", http_status=response.status_code), what) from None
        return data if isinstance(data, dict) else {}

    def send(self, phone_number_id: str, payload: dict[str, Any]) -> str:
        """Send one message; returns its ``wamid``."""
        data = self._json("send", "POST", f"{phone_number_id}/messages", json=payload)
        messages = data.get("messages") or [{}]
        message_id = messages[0].get("id") if isinstance(messages[0], dict) else None
        if not message_id:
            raise GraphFailure(errors.GraphError(None, "no message id in the answer"), "send")
        return str(message_id)

    def upload(self, phone_number_id: str, filename: str, content_type: str, data: bytes) -> str:
        """Upload a file for a media message; returns the media id."""
        answer = self._json(
            "upload",
            "POST",
            f"{phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": content_type},
            files={"file": (filename, data, content_type)},
        )
        if not answer.get("id"):
            raise GraphFailure(errors.GraphError(None, "no media id in the answer"), "upload")
        return str(answer["id"])

    def download(self, media_id: str) -> tuple[bytes, str]:
        """A received media file and its content type: its URL first, then the file, both with the token."""
        info = self._json("media_url", "GET", media_id)
        url = info.get("url")
        if not url:
            raise GraphFailure(errors.GraphError(None, "no url for the media id"), "media_url")
        response = self._call("media_download", "GET", str(url))
        content_type = str(info.get("mime_type") or response.headers.get("content-type") or "application/octet-stream")
        return response.content, content_type

    def phone_number(self, phone_number_id: str) -> dict[str, Any]:
        return self._json("phone_number", "GET", phone_number_id)

    def create_template(self, waba_id: str, template: dict[str, Any]) -> dict[str, Any]:
        """Submit a template for review (``POST /{waba-id}/message_templates``); Meta answers its id and status."""
        return self._json("create_template", "POST", f"{waba_id}/message_templates", json=template)

    def templates(self, waba_id: str) -> list[dict[str, Any]]:
        """Every message template of the account (following Meta's cursor pages)."""
        found: list[dict[str, Any]] = []
        url: str | None = self._url(f"{waba_id}/message_templates")
        params: dict[str, Any] | None = {"limit": 100}
        while url and len(found) < 5000:
            response = self._call("templates", "GET", url, params=params)
            data = response.json()
            found.extend(t for t in data.get("data") or [] if isinstance(t, dict))
            url, params = (data.get("paging") or {}).get("next"), None
        return found
