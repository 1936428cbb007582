"""The WhatsApp Cloud API, as the sandbox plays it: the Graph endpoints a channel calls, and a control API.

Graph side (Meta's Cloud API reference, https://developers.facebook.com/docs/whatsapp/cloud-api/reference):
``POST /{version}/{phone-number-id}/messages`` (bearer token; the payload validated per type;
131047 outside the 24-hour window for anything but a template, 131026 for a recipient who cannot
be reached, 130429 past the number's throughput, 132001/132000 for a template that is not approved
or whose variables do not match), ``POST /{version}/{phone-number-id}/media`` (upload),
``GET /{version}/{media-id}`` (its download URL), the download itself, ``GET /{version}/{phone-number-id}``
and ``GET /{version}/{waba-id}/message_templates``.

Control side (``/_sandbox/whatsapp/...``, for tests, the demo and the customer page): register a
number (its token, app secret and the inbox's webhook URL), write as a customer (any message type,
with a file, duplicated), send statuses for a sent message (in any order), queue errors for the
next sends, age a customer's window, read what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse, Response

from raccordo.sandbox import whatsapp_customer as customer
from raccordo.sandbox.whatsapp_state import SANDBOX, Media, Number, SandboxError

ROUTER = APIRouter(tags=["whatsapp sandbox"])
_VERSION = re.compile(r"^v\d+\.\d+$")
_TYPES = ("text", "image", "audio", "video", "document", "sticker", "interactive", "template", "location", "reaction")
_MEDIA = ("image", "audio", "video", "document", "sticker")
# The control endpoints block while they call the webhook (retries included): FastAPI runs them in
# its thread pool, so the Graph side keeps answering the product meanwhile.
_BODY = Body(...)


def _error(exc: SandboxError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.http_status)


def _version(version: str) -> None:
    if not _VERSION.match(version):
        raise SandboxError(400, 2500, "Unknown path components", f"/{version}")


# --- control API (registered first: its paths must not be read as Graph object ids) ---------------


@ROUTER.post("/_sandbox/whatsapp/numbers")
def register_number(data: dict[str, Any] = _BODY) -> dict[str, Any]:
    """A business number: ``phone_number_id``, ``waba_id``, ``access_token``, ``app_secret``, ``webhook_url``;
    optionally ``auto_statuses`` (e.g. ``["sent", "delivered", "read"]``), ``status_delay``, ``out_of_order``,
    ``statuses_first`` (the statuses reach the webhook before the send is answered), ``rate_per_second``."""
    number = Number(
        phone_number_id=str(data["phone_number_id"]),
        waba_id=str(data["waba_id"]),
        access_token=str(data["access_token"]),
        app_secret=str(data["app_secret"]),
        webhook_url=str(data["webhook_url"]),
        display_phone_number=str(data.get("display_phone_number") or "+39 02 0000 0000"),
        rate_per_second=int(data.get("rate_per_second") or 80),
        auto_statuses=[str(state) for state in data.get("auto_statuses") or []],
        status_delay=float(data.get("status_delay", 1.0)),
        out_of_order=bool(data.get("out_of_order")),
        statuses_first=bool(data.get("statuses_first")),
    )
    with SANDBOX.lock:
        SANDBOX.numbers[number.phone_number_id] = number
    return {"phone_number_id": number.phone_number_id}


@ROUTER.post("/_sandbox/whatsapp/numbers/{phone_number_id}/customers/{wa_id}/messages")
def customer_writes(phone_number_id: str, wa_id: str, data: dict[str, Any] = _BODY) -> Response:
    """The customer sends a message: ``{"type", "<type>": {...}, "name", "context_id", "duplicate", "file"}``;
    ``file`` (``{"filename", "content_type", "data_base64"}``) becomes the media of a media type."""
    try:
        number = SANDBOX.number(phone_number_id)
    except SandboxError as exc:
        return _error(exc)
    kind = str(data.get("type") or "text")
    given = data.get(kind)
    body: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    if kind == "text" and isinstance(given, str):  # the short form {"type": "text", "text": "..."}
        body = {"body": given}
    if kind in _MEDIA and data.get("file"):
        file = data["file"]
        content = base64.b64decode(file["data_base64"])
        media = Media(
            f"{uuid.uuid4().int % 10**15}", phone_number_id, file["content_type"], content, file.get("filename")
        )
        SANDBOX.media[media.id] = media
        body.update(
            id=media.id,
            mime_type=media.content_type,
            sha256=base64.b64encode(hashlib.sha256(content).digest()).decode(),
        )
        if media.filename and kind == "document":
            body["filename"] = media.filename
    wamid, payload = customer.customer_message(
        number, wa_id, str(data.get("name") or "Cliente"), kind, body, data.get("context_id")
    )
    attempts = customer.deliver(number, payload, duplicate=bool(data.get("duplicate")))
    return JSONResponse({"id": wamid, "deliveries": attempts})


@ROUTER.post("/_sandbox/whatsapp/numbers/{phone_number_id}/statuses")
def send_statuses(phone_number_id: str, data: dict[str, Any] = _BODY) -> Response:
    """``{"message_id", "statuses": ["delivered", "read"], "error_code"}``: one webhook per status, in that order."""
    try:
        number = SANDBOX.number(phone_number_id)
    except SandboxError as exc:
        return _error(exc)
    results = []
    for payload in customer.statuses(number, str(data["message_id"]), list(data["statuses"]), data.get("error_code")):
        results.append(customer.deliver(number, payload, duplicate=bool(data.get("duplicate"))))
    return JSONResponse({"deliveries": results})


@ROUTER.post("/_sandbox/whatsapp/numbers/{phone_number_id}/control")
def control(phone_number_id: str, data: dict[str, Any] = _BODY) -> Response:
    """``fail_next`` (codes for the next sends), ``unreachable`` (wa_ids), ``window_age`` (``{wa_id: seconds}``)."""
    try:
        number = SANDBOX.number(phone_number_id)
    except SandboxError as exc:
        return _error(exc)
    with SANDBOX.lock:
        number.fail_next.extend(int(code) for code in data.get("fail_next") or [])
        number.unreachable.update(str(wa_id) for wa_id in data.get("unreachable") or [])
        for wa_id, age in (data.get("window_age") or {}).items():
            number.last_inbound[str(wa_id)] = time.time() - float(age)
    return JSONResponse({"ok": True})


@ROUTER.get("/_sandbox/whatsapp/numbers/{phone_number_id}/sent")
async def sent_messages(phone_number_id: str) -> Response:
    try:
        number = SANDBOX.number(phone_number_id)
    except SandboxError as exc:
        return _error(exc)
    return JSONResponse({"data": number.sent, "deliveries": number.deliveries})


@ROUTER.get("/_sandbox/whatsapp/media/{media_id}")
async def media_file(media_id: str, authorization: str | None = Header(default=None)) -> Response:
    """The download URL ``GET /{media-id}`` answers; it needs the owner's bearer token as Meta's does."""
    media = SANDBOX.media.get(media_id)
    if media is None:
        return _error(SandboxError(404, 100, "Invalid parameter", "Media not found"))
    if not any(n.phone_number_id == media.owner for n in SANDBOX.by_token(authorization)):
        return _error(SandboxError(401, 190, "Invalid OAuth access token - Cannot parse access token"))
    return Response(media.data, media_type=media.content_type)


# --- Graph API --------------------------------------------------------------------------------------


@ROUTER.post("/{version}/{phone_number_id}/messages")
async def send_message(
    version: str, phone_number_id: str, request: Request, authorization: str | None = Header(default=None)
) -> Response:
    try:
        _version(version)
        number = SANDBOX.authorize(authorization, phone_number_id)
        try:
            payload = await request.json()
        except ValueError:
            raise SandboxError(400, 100, "Invalid parameter", "The request body is not JSON") from None
        with SANDBOX.lock:
            if number.fail_next:
                code = number.fail_next.pop(0)
                raise SandboxError(400, code, "Queued failure", f"the sandbox was asked to fail this send with {code}")
            SANDBOX.throttle(number)
            to = _validate(number, payload)
            wamid = f"wamid.SBX{uuid.uuid4().hex.upper()}"
            number.sent.append({"id": wamid, "to": to, "payload": payload, "at": time.time()})
    except SandboxError as exc:
        return _error(exc)
    if number.auto_statuses and number.statuses_first:
        await asyncio.to_thread(customer.report_now, number, wamid)
    elif number.auto_statuses:
        customer.report_later(number, wamid)
    return JSONResponse(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": payload["to"], "wa_id": to}],
            "messages": [{"id": wamid}],
        }
    )


def _validate(number: Number, payload: Any) -> str:
    """Meta's checks, in its order: shape, recipient, window, then the type's own rules; the recipient's wa_id."""
    if not isinstance(payload, dict) or payload.get("messaging_product") != "whatsapp":
        raise SandboxError(400, 100, "Invalid parameter", "messaging_product must be 'whatsapp'")
    to = "".join(ch for ch in str(payload.get("to") or "") if ch.isdigit())
    kind = payload.get("type", "text")
    if kind not in _TYPES or not isinstance(payload.get(kind), dict):
        raise SandboxError(400, 100, "Invalid parameter", f"a '{kind}' message needs its '{kind}' object")
    if not 8 <= len(to) <= 15 or to in number.unreachable:
        raise SandboxError(
            400, 131026, "Message undeliverable", "Unable to deliver message: the recipient cannot be reached"
        )
    if kind != "template" and not SANDBOX.window_open(number, to):
        raise SandboxError(
            400,
            131047,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed"
            " since the customer last replied to this number.",
        )
    body = payload[kind]
    if kind == "text" and (not str(body.get("body") or "").strip() or len(str(body["body"])) > 4096):
        raise SandboxError(400, 100, "Invalid parameter", "text.body must have 1 to 4096 characters")
    if kind in _MEDIA:
        if bool(body.get("id")) == bool(body.get("link")):
            raise SandboxError(400, 100, "Invalid parameter", f"{kind} needs exactly one of id and link")
        if body.get("id") and body["id"] not in SANDBOX.media:
            raise SandboxError(400, 131053, "Media upload error", "Unknown media id")
    if kind == "interactive":
        _validate_interactive(body)
    if kind == "template":
        _validate_template(number, body)
    return to


def _validate_interactive(body: dict[str, Any]) -> None:
    action = body.get("action") or {}
    if not (body.get("body") or {}).get("text"):
        raise SandboxError(400, 131009, "Parameter value is not valid", "interactive.body.text is required")
    if body.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3 or any(len(b["reply"]["title"]) > 20 for b in buttons):
            raise SandboxError(400, 131009, "Parameter value is not valid", "1 to 3 buttons, titles of 20 characters")
    elif body.get("type") == "list":
        rows = [r for s in action.get("sections") or [] for r in s.get("rows") or []]
        if not action.get("button") or not 1 <= len(rows) <= 10:
            raise SandboxError(400, 131009, "Parameter value is not valid", "a list needs a button and 1 to 10 rows")
    else:
        raise SandboxError(400, 100, "Invalid parameter", "interactive.type must be button or list")


def _validate_template(number: Number, body: dict[str, Any]) -> None:
    language = (body.get("language") or {}).get("code")
    template = next((t for t in number.templates if t["name"] == body.get("name") and t["language"] == language), None)
    if template is None or template["status"] != "APPROVED":
        raise SandboxError(
            404,
            132001,
            "Template name does not exist in the translation",
            f"template name ({body.get('name')}) does not exist in {language}",
        )
    text = next((c.get("text", "") for c in template["components"] if c["type"] == "BODY"), "")
    expected = len(set(re.findall(r"\{\{(\d+)\}\}", text)))
    given = sum(
        len(c.get("parameters") or []) for c in body.get("components") or [] if str(c.get("type")).lower() == "body"
    )
    if given != expected:
        raise SandboxError(400, 132000, "Number of parameters does not match the expected number of params")


@ROUTER.post("/{version}/{phone_number_id}/media")
async def upload_media(
    version: str, phone_number_id: str, request: Request, authorization: str | None = Header(default=None)
) -> Response:
    try:
        _version(version)
        SANDBOX.authorize(authorization, phone_number_id)
        form = await request.form()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or upload is None or isinstance(upload, str):
            raise SandboxError(400, 100, "Invalid parameter", "messaging_product=whatsapp and a file are required")
        data = await upload.read()
        content_type = str(form.get("type") or upload.content_type or "application/octet-stream")
        media = Media(f"{uuid.uuid4().int % 10**15}", phone_number_id, content_type, data, upload.filename)
        SANDBOX.media[media.id] = media
    except SandboxError as exc:
        return _error(exc)
    return JSONResponse({"id": media.id})


@ROUTER.get("/{version}/{waba_id}/message_templates")
async def message_templates(version: str, waba_id: str, authorization: str | None = Header(default=None)) -> Response:
    try:
        _version(version)
        number = SANDBOX.by_waba(authorization, waba_id)
    except SandboxError as exc:
        return _error(exc)
    data = [
        {**t, "id": hashlib.sha1(f"{t['name']}:{t['language']}".encode()).hexdigest()[:15]} for t in number.templates
    ]
    return JSONResponse({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})


@ROUTER.get("/{version}/{object_id}")
async def graph_object(
    version: str, object_id: str, request: Request, authorization: str | None = Header(default=None)
) -> Response:
    """A media id (its download URL) or a phone number id (its details)."""
    try:
        _version(version)
        media = SANDBOX.media.get(object_id)
        if media is not None:
            if not any(n.phone_number_id == media.owner for n in SANDBOX.by_token(authorization)):
                raise SandboxError(401, 190, "Invalid OAuth access token - Cannot parse access token")
            base = str(request.base_url).rstrip("/")
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "url": f"{base}/_sandbox/whatsapp/media/{media.id}",
                    "mime_type": media.content_type,
                    "sha256": hashlib.sha256(media.data).hexdigest(),
                    "file_size": len(media.data),
                    "id": media.id,
                }
            )
        number = SANDBOX.authorize(authorization, object_id)
    except SandboxError as exc:
        return _error(exc)
    return JSONResponse(
        {
            "verified_name": "Raccordo Sandbox",
            "display_phone_number": number.display_phone_number,
            "id": number.phone_number_id,
            "quality_rating": "GREEN",
        }
    )
