"""The web chat widget's public endpoints, used by the visitor's browser from the tenant's own sites.

- ``GET /widget/widget.js``: the widget, one file (``channels/widget/static/widget.js``).
- ``POST /widget/{identifier}/session``: a visitor token (new or confirmed), the widget's strings
  and settings, availability; with ``user.id`` and ``user.hash`` a verified identity (403 if forged).
- ``GET /widget/{identifier}/attachments/{attachment_id}``: a file on a message the visitor sees,
  with the token in ``X-Raccordo-Visitor``.
- ``WS /widget/ws?inbox=<identifier>&lang=it``: the live chat, token in the subprotocol
  ``raccordo.widget.<token>`` (never in the URL, which ends up in access logs).

Every request must come from one of the inbox's ``allowed_origins`` (the ``Origin`` header). The
endpoints need no cookie, so CORS answers reflect the caller's origin (``WidgetCors``): the origin
check itself is done on each request. Agents get ``POST /api/v1/conversations/{id}/seen``.

Socket frames, visitor → server: ``message`` {client_id, text, attachments [{filename,
content_type, data_base64}], page_url, referrer, attributes, name}, ``typing`` {state}, ``read``
{message_id}, ``details`` {name, email, phone}, ``ping``. Server → visitor: ``hello`` {visitor_id,
availability, messages, agent_seen_at}, ``message``, ``ack`` {client_id, message_id, duplicate},
``typing``, ``seen`` {at}, ``availability``, ``details``, ``error`` {status, code, message,
client_id, field}, ``pong``, ``heartbeat``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raccordo.accounts.api.deps import ActorDep, client_address, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.channels.base import ChannelRejected
from raccordo.channels.widget import sessions, visitor_messages, visitor_view
from raccordo.channels.widget import visitor as widget
from raccordo.channels.widget.hub import VisitorClient, WidgetHub
from raccordo.platform.errors import RaccordoError, TooManyRequests
from raccordo.platform.i18n import pick_language, translate
from raccordo.platform.web.errors import message_params, request_language
from raccordo.platform.web.schemas import MAX_ID, PathId
from raccordo.realtime.sockets import serve_until_closed
from raccordo.record.domain.messages import DeliveryStatus

router = APIRouter()
TOKEN_PROTOCOL = "raccordo.widget."
VISITOR_HEADER = "x-raccordo-visitor"
SESSIONS_PER_IP_PER_MINUTE = 60
SAFE_INLINE = {"image/png", "image/jpeg", "image/gif", "image/webp"}


@cache
def widget_script() -> tuple[bytes, bytes, str]:
    """The widget's source, gzipped, and its ETag."""
    source = files("raccordo.channels.widget").joinpath("static/widget.js").read_bytes()
    return source, gzip.compress(source, 9, mtime=0), '"' + hashlib.sha256(source).hexdigest()[:32] + '"'


@router.get("/widget/widget.js", include_in_schema=False)
def widget_js(request: Request) -> Response:
    source, compressed, etag = widget_script()
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=300",
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            compressed, media_type="text/javascript; charset=utf-8", headers={**headers, "Content-Encoding": "gzip"}
        )
    return Response(source, media_type="text/javascript; charset=utf-8", headers=headers)


class WidgetUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200, description="The host site's id of its logged-in user.")
    hash: str = Field(
        min_length=1,
        max_length=200,
        description="Hex HMAC-SHA256 of the id with the inbox's hmac_secret, computed by the host site's server.",
    )
    name: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320)


class WidgetSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visitor_token: str | None = Field(default=None, max_length=300)
    language: str | None = Field(default=None, max_length=16)
    user: WidgetUser | None = None


def _language(request: Request, given: str | None) -> str:
    return pick_language(given or "", None) if given else request_language(request)


@router.post("/widget/{identifier}/session", tags=["widget"])
async def open_session(identifier: str, body: WidgetSessionIn, request: Request) -> dict[str, Any]:
    """Start or resume a visitor: the token to keep, strings and settings, and whether an agent is available."""
    rt = runtime(request)
    language = _language(request, body.language)
    request.state.language = language
    hub = WidgetHub.of(request.app.state.hub)
    wait = hub.limits.hit(f"widget:session:{client_address(request)}", SESSIONS_PER_IP_PER_MINUTE)
    if wait:
        raise TooManyRequests("widget.rate_limited", retry_after=wait)
    user = body.user
    return await run_in_threadpool(
        lambda: sessions.open_session(
            rt,
            identifier,
            request.headers.get("origin"),
            token=body.visitor_token,
            language=language,
            user_id=user.id if user else None,
            user_hash=user.hash if user else None,
            name=user.name if user else None,
            email=user.email if user else None,
        )
    )


@router.get("/widget/{identifier}/attachments/{attachment_id}", tags=["widget"], response_class=FileResponse)
async def visitor_attachment(identifier: str, attachment_id: PathId, request: Request) -> FileResponse:
    """A file on a message the visitor can see (their own uploads, agents' sent replies)."""
    rt = runtime(request)
    language = request_language(request)
    visitor = await run_in_threadpool(
        sessions.authenticate,
        rt,
        identifier,
        request.headers.get("origin"),
        request.headers.get(VISITOR_HEADER),
        language,
    )
    path, filename, content_type = await run_in_threadpool(visitor_view.attachment_for, rt, visitor, attachment_id)
    inline = content_type in SAFE_INLINE
    response = FileResponse(
        path,
        media_type=content_type if inline else "application/octet-stream",
        filename=filename,
        content_disposition_type="inline" if inline else "attachment",
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@router.post("/api/v1/conversations/{conversation_id}/seen", tags=["conversations"], status_code=200)
def conversation_seen(conversation_id: PathId, request: Request, actor: Actor = ActorDep) -> dict[str, Any]:
    """The agent read the conversation: the web widget shows the customer "seen"."""
    return visitor_view.agent_seen(runtime(request).sessions, actor, conversation_id)


# --- the visitor's socket ------------------------------------------------------------------------


def _error(exc: RaccordoError, language: str, client_id: Any = None) -> dict[str, Any]:
    frame = {
        "type": "error",
        "status": exc.status,
        "code": exc.key,
        "message": translate(exc.key, language, **message_params(exc)),
        "field": exc.field,
        "client_id": client_id,
    }
    if isinstance(exc, TooManyRequests):
        frame["retry_after"] = exc.retry_after
    return frame


@router.websocket("/widget/ws")
async def visitor_socket(websocket: WebSocket) -> None:
    hub = WidgetHub.of(websocket.app.state.hub)
    rt = hub.rt
    language = pick_language(websocket.query_params.get("lang") or websocket.headers.get("accept-language", ""))
    protocols = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    protocol = next((p for p in protocols if p.startswith(TOKEN_PROTOCOL)), None)
    try:
        visitor = await run_in_threadpool(
            sessions.authenticate,
            rt,
            websocket.query_params.get("inbox", ""),
            websocket.headers.get("origin"),
            protocol[len(TOKEN_PROTOCOL) :] if protocol else None,
            language,
        )
    except RaccordoError as exc:
        await websocket.close(code=1008, reason=translate(exc.key, language, **exc.params)[:120])
        return
    await websocket.accept(subprotocol=protocol)
    client = VisitorClient(websocket, visitor, asyncio.Queue(maxsize=rt.settings.ws_queue_size))
    sender = asyncio.create_task(_send_loop(client, rt.settings.ws_heartbeat_seconds))

    async def run() -> None:
        await hub.register(client)
        await _receive_loop(hub, client, websocket, rt.settings.ws_heartbeat_seconds * 3 + 10)

    await serve_until_closed(run(), sender, lambda: hub.unregister(client))
    if client.typing:
        await _typing(hub, client, False)


async def _send_loop(client: VisitorClient, heartbeat: float) -> None:
    while True:
        try:
            frame = await asyncio.wait_for(client.queue.get(), timeout=heartbeat)
        except TimeoutError:
            frame = {"type": "heartbeat"}
        await client.websocket.send_json(frame)


async def _typing(hub: WidgetHub, client: VisitorClient, state: bool) -> None:
    client.typing = state
    conversation_id = client.view.conversation_ids[-1] if client.view.conversation_ids else None
    if conversation_id is None:
        conversation_id = await run_in_threadpool(visitor_view.conversation_of, hub.rt, client.visitor)
    if conversation_id is not None:
        await hub.hub.bus.publish(
            {
                "type": "typing",
                "tenant_id": client.visitor.tenant_id,
                "conversation_id": conversation_id,
                "user_id": None,
                "contact_id": client.view.contact_id,
                "state": state,
            }
        )


async def _receive_loop(hub: WidgetHub, client: VisitorClient, websocket: WebSocket, idle_limit: float) -> None:
    visitor = client.visitor
    language = visitor.language
    limit, _ = widget.attachment_limits(visitor.config.settings)
    max_frame = limit * 4 // 3 * 5 + 64 * 1024  # five attachments, base64, and the text
    address = websocket.client.host if websocket.client else "unknown"
    while True:
        try:
            raw = await asyncio.wait_for(websocket.receive_text(), timeout=idle_limit)
        except TimeoutError:
            await websocket.close(code=4000, reason="no message or ping within the heartbeat timeout")
            return
        if client.closed:
            return
        if len(raw) > max_frame:
            client.offer(_error(ChannelRejected("widget.frame_too_large", status=413, limit=limit), language))
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            client.offer(_error(ChannelRejected("widget.frame_invalid"), language))
            continue
        kind = data.get("type")
        try:
            if kind == "ping":
                client.offer({"type": "pong"})
            elif kind == "message":
                await _message(hub, client, data, address, websocket.headers.get("user-agent"))
            elif kind == "typing":
                state = bool(data.get("state", True))
                if state != client.typing:
                    await _typing(hub, client, state)
            elif kind == "read":
                up_to = data.get("message_id")
                if (
                    isinstance(up_to, int) and not isinstance(up_to, bool) and 0 < up_to <= MAX_ID
                ):  # a bigger one overflows the column
                    await run_in_threadpool(
                        visitor_view.mark_outbound, hub.rt, visitor, None, up_to, DeliveryStatus.READ.value
                    )
            elif kind == "details":
                values = {k: _filled(data.get(k)) for k in ("name", "email", "phone")}
                wait = hub.limits.hit(
                    f"widget:v:{visitor.inbox_id}:{visitor.visitor_id}",
                    int(visitor.config.settings.get("visitor_messages_per_minute", 20)),
                )
                if wait:
                    raise TooManyRequests("widget.rate_limited", retry_after=wait)
                client.offer(await run_in_threadpool(visitor_messages.leave_details, hub.rt, visitor, **values))
                await hub.refresh(client)
            else:
                client.offer(_error(ChannelRejected("widget.frame_unknown"), language))
        except RaccordoError as exc:
            client.offer(_error(exc, language, data.get("client_id")))


def _filled(value: Any) -> str | None:
    """A frame's text field, or None when it is missing, not a string or blank."""
    return value if isinstance(value, str) and value.strip() else None


async def _message(
    hub: WidgetHub, client: VisitorClient, data: dict[str, Any], address: str, user_agent: str | None
) -> None:
    visitor = client.visitor
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 100:
        raise ChannelRejected("widget.client_id_required", status=422, field="client_id")
    settings = visitor.config.settings
    for key, per_minute in (
        (f"widget:v:{visitor.inbox_id}:{visitor.visitor_id}", settings.get("visitor_messages_per_minute", 20)),
        (f"widget:ip:{visitor.inbox_id}:{address}", settings.get("ip_messages_per_minute", 120)),
    ):
        wait = hub.limits.hit(key, int(per_minute))
        if wait:
            raise TooManyRequests("widget.rate_limited", retry_after=wait)
    outcome = await run_in_threadpool(
        lambda: visitor_messages.receive_message(hub.rt, visitor, data, user_agent=user_agent, client_address=address)
    )
    client.offer(
        {
            "type": "ack",
            "client_id": client_id,
            "message_id": outcome.message_ids[0] if outcome.message_ids else None,
            "duplicate": bool(outcome.duplicates),
        }
    )
    if client.typing:
        await _typing(hub, client, False)
    await hub.refresh(client)
    if client.availability and not client.availability.get("available"):
        client.offer({"type": "availability", "availability": client.availability})


# --- CORS for the widget's endpoints ---------------------------------------------------------------


class WidgetCors:
    """Lets the host sites' pages call ``/widget/...``. No cookies are involved, so reflecting the
    caller's origin is safe; each endpoint checks the origin against the inbox's allowed origins."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/widget/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        cors = [
            (b"access-control-allow-origin", origin),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", b"content-disposition, retry-after"),
        ]
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            preflight = [
                *cors,
                (b"access-control-allow-methods", b"GET, POST"),
                (b"access-control-allow-headers", b"content-type, x-raccordo-visitor"),
                (b"access-control-max-age", b"600"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": preflight})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, with_cors)
