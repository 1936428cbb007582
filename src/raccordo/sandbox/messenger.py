"""Messenger and Instagram Direct, as the sandbox plays them: the Graph endpoints the channels call, and a control API.

Graph side, under ``/messenger/{version}`` (the inbox's Graph base URL is ``<sandbox>/messenger/v21.0``,
which keeps these paths apart from the WhatsApp module's ``/{version}/{id}/messages``), after Meta's
Send API reference (https://developers.facebook.com/docs/messenger-platform/reference/send-api/):
``POST /{page-id}/messages`` (or ``/me/messages``; bearer page token; ``recipient.id``,
``messaging_type`` RESPONSE or MESSAGE_TAG + ``tag``, a ``message`` with text or one attachment;
10/2018278 outside the 24-hour window (7 days with HUMAN_AGENT), 551 for a person who is
unavailable, 613 past the page's rate, queued codes on request), ``POST /{page-id}/message_attachments``
(multipart ``filedata``), ``GET /{page-id}?fields=name`` and ``GET /{page-id}/subscribed_apps``.
Received files are served without a token at ``/_sandbox/meta/media/{id}``, as Meta's CDN does.

Control side (``/_sandbox/meta/...``): register a page or Instagram account (token, app secret,
the inbox's webhook URL, automatic delivery/read events), write as a customer (any event type,
with a file, duplicated), send delivery/read events, queue errors, age a customer's window, read
what was sent.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse, Response

from raccordo.sandbox import messenger_customer as customer
from raccordo.sandbox.messenger_state import SANDBOX, Media, Page, SandboxError

ROUTER = APIRouter(tags=["messenger sandbox"])
_VERSION = re.compile(r"^v\d+\.\d+$")
_ATTACHMENT_TYPES = ("image", "video", "audio", "file")
_BODY = Body(...)


def _error(exc: SandboxError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.http_status)


def _version(version: str) -> None:
    if not _VERSION.match(version):
        raise SandboxError(400, 2500, f"Unknown path components: /{version}")


def _store(file: dict[str, Any]) -> Media:
    media = Media(
        uuid.uuid4().hex,
        str(file.get("content_type") or "application/octet-stream"),
        base64.b64decode(file["data_base64"]),
        str(file.get("filename") or "file"),
    )
    SANDBOX.media[media.id] = media
    return media


# --- control API ------------------------------------------------------------------------------------


@ROUTER.post("/_sandbox/meta/pages")
def register_page(data: dict[str, Any] = _BODY) -> dict[str, Any]:
    """``kind`` (messenger/instagram), ``page_id``, ``account_id`` (Instagram), ``access_token``, ``app_secret``,
    ``webhook_url``; optionally ``auto_statuses`` (e.g. ``["delivered", "read"]``), ``status_delay``, ``name``."""
    kind = str(data.get("kind") or "messenger")
    page = Page(
        kind=kind,
        page_id=str(data["page_id"]),
        account_id=str(data.get("account_id") or data["page_id"]),
        access_token=str(data["access_token"]),
        app_secret=str(data["app_secret"]),
        webhook_url=str(data["webhook_url"]),
        name=str(data.get("name") or "Raccordo Sandbox"),
        rate_per_second=int(data.get("rate_per_second") or 40),
        auto_statuses=[str(s) for s in data.get("auto_statuses") or []],
        status_delay=float(data.get("status_delay", 0.5)),
    )
    with SANDBOX.lock:
        SANDBOX.pages[page.page_id] = page
    return {"page_id": page.page_id, "account_id": page.account_id}


@ROUTER.post("/_sandbox/meta/pages/{page_id}/customers/{psid}/events")
def customer_writes(page_id: str, psid: str, request: Request, data: dict[str, Any] = _BODY) -> Response:
    """The customer acts: ``{"type", "text", "file", "payload", "message_id", "action", "emoji", "duplicate"}``;
    ``file`` (``{"filename", "content_type", "data_base64"}``) is served at a CDN URL the event names."""
    try:
        page = SANDBOX.page(page_id)
    except SandboxError as exc:
        return _error(exc)
    media_url = None
    if data.get("file"):
        media = _store(data["file"])
        media_url = f"{str(request.base_url).rstrip('/')}/_sandbox/meta/media/{media.id}"
    mid, event = customer.customer_event(page, psid, data, media_url)
    with SANDBOX.lock:
        if str(data.get("type") or "text") not in ("reaction", "deleted"):
            page.last_inbound[psid] = time.time()
        page.received.append({"mid": mid, "psid": psid, "event": event, "at": time.time()})
    attempts = customer.deliver(page, customer.envelope(page, [event]), duplicate=bool(data.get("duplicate")))
    return JSONResponse({"mid": mid, "deliveries": attempts})


@ROUTER.post("/_sandbox/meta/pages/{page_id}/statuses")
def send_statuses(page_id: str, data: dict[str, Any] = _BODY) -> Response:
    """``{"psid", "states": ["read", "delivered"], "mids": [...], "watermark": ms}``: a webhook per state, in order."""
    try:
        page = SANDBOX.page(page_id)
    except SandboxError as exc:
        return _error(exc)
    watermark = int(data.get("watermark") or customer.now_ms())
    results = []
    for state in data["states"]:
        event = customer.status_event(
            page, str(data["psid"]), str(state), [str(m) for m in data.get("mids") or []], watermark
        )
        results.append(customer.deliver(page, customer.envelope(page, [event]), duplicate=bool(data.get("duplicate"))))
    return JSONResponse({"deliveries": results})


@ROUTER.post("/_sandbox/meta/pages/{page_id}/control")
def control(page_id: str, data: dict[str, Any] = _BODY) -> Response:
    """``fail_next`` (codes), ``unavailable`` (PSIDs), ``window_age`` (``{psid: seconds}``), ``subscribed``."""
    try:
        page = SANDBOX.page(page_id)
    except SandboxError as exc:
        return _error(exc)
    with SANDBOX.lock:
        page.fail_next.extend(int(code) for code in data.get("fail_next") or [])
        page.unavailable.update(str(psid) for psid in data.get("unavailable") or [])
        for psid, age in (data.get("window_age") or {}).items():
            page.last_inbound[str(psid)] = time.time() - float(age)
        if "subscribed" in data:
            page.subscribed = bool(data["subscribed"])
    return JSONResponse({"ok": True})


@ROUTER.get("/_sandbox/meta/pages/{page_id}/sent")
async def sent_messages(page_id: str) -> Response:
    try:
        page = SANDBOX.page(page_id)
    except SandboxError as exc:
        return _error(exc)
    return JSONResponse({"data": page.sent, "received": page.received, "deliveries": page.deliveries})


@ROUTER.get("/_sandbox/meta/media/{media_id}")
async def media_file(media_id: str) -> Response:
    media = SANDBOX.media.get(media_id)
    if media is None:
        return Response(status_code=404)
    return Response(media.data, media_type=media.content_type)


# --- Graph API --------------------------------------------------------------------------------------


@ROUTER.post("/messenger/{version}/{page_id}/messages")
async def send_message(
    version: str, page_id: str, request: Request, authorization: str | None = Header(default=None)
) -> Response:
    try:
        _version(version)
        page = SANDBOX.authorize(authorization, page_id)
        try:
            payload = await request.json()
        except ValueError:
            raise SandboxError(400, 100, "Invalid parameter: the body is not JSON") from None
        with SANDBOX.lock:
            if page.fail_next:
                raise SandboxError.known(page.fail_next.pop(0))
            SANDBOX.throttle(page)
            psid = _validate(page, payload)
            mid = customer.new_mid()
            page.sent.append({"mid": mid, "psid": psid, "payload": payload, "at": time.time()})
    except SandboxError as exc:
        return _error(exc)
    if page.auto_statuses:
        customer.report_later(page, psid, mid)
    return JSONResponse({"recipient_id": psid, "message_id": mid})


def _validate(page: Page, payload: Any) -> str:
    """Meta's checks, in its order: shape, recipient, window, then the message; the recipient's PSID."""
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), dict):
        raise SandboxError(400, 100, "Invalid parameter: message is required")
    psid = str((payload.get("recipient") or {}).get("id") or "")
    if not psid or psid not in page.last_inbound:
        raise SandboxError(400, 100, "No matching user found", 2018001)
    if psid in page.unavailable:
        raise SandboxError.known(551)
    messaging_type = payload.get("messaging_type")
    if messaging_type not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
        raise SandboxError(400, 100, "Invalid parameter: messaging_type")
    tag = payload.get("tag") if messaging_type == "MESSAGE_TAG" else None
    if messaging_type == "MESSAGE_TAG" and tag != "HUMAN_AGENT":
        raise SandboxError(400, 100, "Invalid parameter: tag")
    SANDBOX.window(page, psid, tag)
    message = payload["message"]
    text, attachment = message.get("text"), message.get("attachment")
    if bool(text) == bool(attachment):
        raise SandboxError(400, 100, "Invalid parameter: a message has either text or an attachment")
    limit = 1000 if page.kind == "instagram" else 2000
    if text is not None and (not isinstance(text, str) or len(text) > limit):
        raise SandboxError(400, 100, f"Invalid parameter: text has at most {limit} characters")
    if attachment is not None:
        if attachment.get("type") not in _ATTACHMENT_TYPES:
            raise SandboxError(400, 100, "Invalid parameter: attachment.type")
        if str((attachment.get("payload") or {}).get("attachment_id") or "") not in SANDBOX.media:
            raise SandboxError(400, 100, "Invalid parameter: unknown attachment_id")
    replies = message.get("quick_replies") or []
    if len(replies) > 13 or any(len(str(r.get("title") or "")) > 20 for r in replies):
        raise SandboxError(400, 100, "Invalid parameter: quick_replies")
    return psid


@ROUTER.post("/messenger/{version}/{page_id}/message_attachments")
async def upload_attachment(
    version: str, page_id: str, request: Request, authorization: str | None = Header(default=None)
) -> Response:
    try:
        _version(version)
        SANDBOX.authorize(authorization, page_id)
        form = await request.form()
        upload = form.get("filedata")
        if upload is None or isinstance(upload, str) or not form.get("message"):
            raise SandboxError(400, 100, "Invalid parameter: message and filedata are required")
        data = await upload.read()
        media = Media(
            uuid.uuid4().hex, upload.content_type or "application/octet-stream", data, upload.filename or "file"
        )
        SANDBOX.media[media.id] = media
    except SandboxError as exc:
        return _error(exc)
    return JSONResponse({"attachment_id": media.id})


@ROUTER.get("/messenger/{version}/{page_id}/subscribed_apps")
async def subscribed_apps(version: str, page_id: str, authorization: str | None = Header(default=None)) -> Response:
    try:
        _version(version)
        page = SANDBOX.authorize(authorization, page_id)
    except SandboxError as exc:
        return _error(exc)
    apps = [{"name": "Raccordo", "id": "1517776481860111"}] if page.subscribed else []
    return JSONResponse({"data": apps})


@ROUTER.get("/messenger/{version}/{page_id}")
async def page_object(version: str, page_id: str, authorization: str | None = Header(default=None)) -> Response:
    try:
        _version(version)
        page = SANDBOX.authorize(authorization, page_id)
    except SandboxError as exc:
        return _error(exc)
    return JSONResponse({"id": page.page_id, "name": page.name})
