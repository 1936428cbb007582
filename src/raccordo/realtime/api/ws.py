"""``/ws``: the agents' and supervisors' live connection.

Authenticated by the session cookie (browsers; the Origin must be this server's), an
``Authorization: Bearer`` header, or the subprotocol ``raccordo.token.<token>`` (for
browser code holding a token, since browsers cannot set headers on WebSockets; tokens in
the URL would end up in access logs). ``?last_event_id=N`` resumes after event N.
``?batch=1`` asks for live events as ``events`` frames ({"type": "events", "events": [...]},
in id order): one frame per hub pump instead of one per event, fewer frames under load.

Server → client: ``hello`` (with ``last_event_id``: the stream starts after it, so load
the current state over REST after reading it, or resume), ``event`` (with a monotonically increasing ``id``),
``events`` (with ``?batch=1``), ``typing``, ``viewers``, ``heartbeat``, ``pong``, ``resync``, ``error``.
Client → server: ``ping``, ``subscribe`` {conversation_ids}, ``typing`` {conversation_id,
state}, ``viewing`` {conversation_id, state}, ``presence`` {status, reason}.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from raccordo.accounts.api.deps import SESSION_COOKIE
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.services import accounts
from raccordo.accounts.services.accounts import user_team_ids
from raccordo.desk.services import inbox
from raccordo.platform.errors import RaccordoError
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.domain.visibility import Subscriber
from raccordo.realtime.frames import PREPARED, PreparedFrame
from raccordo.realtime.hub import CLOSE_SLOW, Client, Hub
from raccordo.realtime.services import presence

router = APIRouter()
TOKEN_PROTOCOL = "raccordo.token."
MAX_SUBSCRIPTIONS = 500


def _authenticate(hub: Hub, websocket: WebSocket) -> tuple[Actor, frozenset[int], str | None] | str:
    """The actor, their teams and the subprotocol to accept; or why the connection is refused."""
    protocols = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    token_protocol = next((p for p in protocols if p.startswith(TOKEN_PROTOCOL)), None)
    authorization = websocket.headers.get("authorization", "")
    with unit_of_work(hub.rt.sessions) as session:
        if token_protocol or authorization:
            token = token_protocol[len(TOKEN_PROTOCOL) :] if token_protocol else authorization.partition(" ")[2].strip()
            user = accounts.token_user(session, token)
            if user is None:
                return "invalid or revoked token"
        else:
            cookie = websocket.cookies.get(SESSION_COOKIE)
            found = accounts.session_user(session, cookie) if cookie else None
            if found is None:
                return "log in first"
            origin = websocket.headers.get("origin")
            host = websocket.headers.get("host", "")
            allowed = {host, urlparse(hub.rt.settings.resolved_public_url).netloc}
            if origin and urlparse(origin).netloc not in allowed:
                # Browsers send cookies cross-site on WebSockets: refuse other sites' pages.
                return "origin not allowed"
            user = found[0]
        actor = Actor(user.tenant_id, user.id, Role(user.role), user.language)
        teams = frozenset(user_team_ids(session, user.tenant_id, user.id))
    return actor, teams, token_protocol


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.hub
    settings = hub.rt.settings
    authenticated = await run_in_threadpool(_authenticate, hub, websocket)
    if isinstance(authenticated, str):
        await websocket.close(code=1008, reason=authenticated)
        return
    actor, teams, subprotocol = authenticated
    resume: int | None = None
    raw_resume = websocket.query_params.get("last_event_id")
    if raw_resume is not None:
        if not raw_resume.isdigit():
            await websocket.close(code=1008, reason="last_event_id must be a number")
            return
        resume = int(raw_resume)
    batch = websocket.query_params.get("batch") == "1"
    await websocket.accept(subprotocol=subprotocol)
    connection_id = uuid.uuid4().hex
    client = Client(
        websocket,
        Subscriber(actor.tenant_id, actor.user_id, actor.role, teams),
        connection_id,
        asyncio.Queue(maxsize=settings.ws_queue_size),
        batch=batch,
    )  # type: ignore[arg-type]
    await run_in_threadpool(_in_transaction, hub, presence.connect, actor, connection_id, hub.bus.node_id)
    await hub.register(
        client,
        resume,
        {"type": "hello", "connection_id": connection_id, "node": hub.bus.node_id, "user_id": actor.user_id},
    )
    sender = start_sender(client, settings.ws_heartbeat_seconds)
    try:
        await _receive_loop(hub, client, actor, settings.ws_heartbeat_seconds * 3 + 10)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.unregister(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        await run_in_threadpool(_in_transaction, hub, presence.disconnect, connection_id)


def _in_transaction(hub: Hub, function: Any, *args: Any) -> Any:
    with unit_of_work(hub.rt.sessions) as session:
        return function(session, *args)


_closing: set[asyncio.Future[None]] = set()  # strong references until the closes finish
SLOW_REASON = "send queue overflow: the client reads too slowly; reconnect with last_event_id"


def start_sender(client: Client, heartbeat: float) -> asyncio.Task[None]:
    """Run the client's send loop; on overflow, stop it and close the socket with the reason."""
    sender = asyncio.create_task(_send_loop(client, heartbeat))

    async def close_slow() -> None:
        sender.cancel()
        # The peer may not read the close frame either: do not wait for it forever.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.websocket.close(code=CLOSE_SLOW, reason=SLOW_REASON), timeout=5)

    def on_overflow() -> None:  # called once: the client is marked closed first
        task = asyncio.ensure_future(close_slow())
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    client.on_overflow = on_overflow
    return sender


async def _send_loop(client: Client, heartbeat: float) -> None:
    websocket, queue = client.websocket, client.queue
    while True:
        if queue.empty():  # (wait_for costs a task per call: only when there is nothing to send)
            try:
                message = await asyncio.wait_for(queue.get(), timeout=heartbeat)
            except TimeoutError:
                message = {"type": "heartbeat", "last_event_id": client.last_sent_id}
        else:
            message = queue.get_nowait()
        if isinstance(message, PreparedFrame):  # built once for every socket that gets it
            await websocket.send({"type": "websocket.send", "text": message.text, PREPARED: message})
        elif isinstance(message, str):  # already serialized by the hub
            await websocket.send_text(message)
        else:
            await websocket.send_json(message)


async def _receive_loop(hub: Hub, client: Client, actor: Actor, idle_limit: float) -> None:
    websocket = client.websocket
    while True:
        try:
            data = await asyncio.wait_for(websocket.receive_json(), timeout=idle_limit)
        except TimeoutError:
            await websocket.close(code=4000, reason="no message or ping within the heartbeat timeout")
            return
        except ValueError:
            client.offer({"type": "error", "message": "messages must be JSON objects"})
            continue
        if client.closed:
            return
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "ping":
            client.offer({"type": "pong"})
        elif kind == "subscribe":
            ids = data.get("conversation_ids")
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids) or len(ids) > MAX_SUBSCRIPTIONS:
                client.offer(
                    {
                        "type": "error",
                        "message": f"subscribe needs conversation_ids: a list of at most {MAX_SUBSCRIPTIONS} integers",
                    }
                )
                continue
            # Only what the agent may see: a subscription is no way around the listing rule.
            client.subscriber.conversation_ids = await run_in_threadpool(
                _in_transaction, hub, inbox.visible_ids, actor, ids
            )
        elif kind in ("typing", "viewing"):
            conversation_id = data.get("conversation_id")
            if not isinstance(conversation_id, int):
                client.offer({"type": "error", "message": f"{kind} needs an integer conversation_id"})
                continue
            if conversation_id not in client.subscriber.conversation_ids and not await run_in_threadpool(
                _in_transaction, hub, inbox.visible_ids, actor, [conversation_id]
            ):
                client.offer({"type": "error", "message": f"{kind}: no such conversation among those you can see"})
                continue
            await hub.bus.publish(
                {
                    "type": kind,
                    "tenant_id": actor.tenant_id,
                    "conversation_id": conversation_id,
                    "user_id": actor.user_id,
                    "state": bool(data.get("state", True)),
                }
            )
            if kind == "viewing" and data.get("state", True):
                client.subscriber.conversation_ids.add(conversation_id)
        elif kind == "presence":
            try:
                await run_in_threadpool(
                    _in_transaction, hub, presence.set_status, actor, data.get("status"), data.get("reason")
                )
            except RaccordoError as exc:
                client.offer({"type": "error", "field": exc.field, "message": exc.key})
        else:
            client.offer(
                {"type": "error", "message": "unknown message type; use ping, subscribe, typing, viewing or presence"}
            )
