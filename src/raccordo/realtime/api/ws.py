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
from urllib.parse import urlparse

from fastapi import APIRouter, WebSocket
from starlette.concurrency import run_in_threadpool

from raccordo.accounts.api.deps import SESSION_COOKIE
from raccordo.accounts.domain.actor import Actor
from raccordo.platform.errors import RaccordoError
from raccordo.realtime.domain.visibility import Subscriber
from raccordo.realtime.frames import DIRECT, PREPARED, PreparedFrame
from raccordo.realtime.hub import CLOSE_SLOW, Client, Hub
from raccordo.realtime.services import connection_use_cases as connections
from raccordo.realtime.services.connection_use_cases import Credentials
from raccordo.realtime.sockets import serve_until_closed

router = APIRouter()
TOKEN_PROTOCOL = "raccordo.token."
MAX_SUBSCRIPTIONS = 500


def _credentials(hub: Hub, websocket: WebSocket) -> tuple[Credentials, str | None]:
    """What the opening request presented, and the token subprotocol to accept (if it carried one)."""
    protocols = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    token_protocol = next((p for p in protocols if p.startswith(TOKEN_PROTOCOL)), None)
    authorization = websocket.headers.get("authorization", "")
    token: str | None = None
    if token_protocol:
        token = token_protocol[len(TOKEN_PROTOCOL) :]
    elif authorization:
        token = authorization.partition(" ")[2].strip()
    allowed = frozenset({websocket.headers.get("host", ""), urlparse(hub.rt.settings.resolved_public_url).netloc})
    credentials = Credentials(token, websocket.cookies.get(SESSION_COOKIE), websocket.headers.get("origin"), allowed)
    return credentials, token_protocol


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.hub
    settings = hub.rt.settings
    sessions = hub.rt.sessions
    credentials, subprotocol = _credentials(hub, websocket)
    agent = await run_in_threadpool(connections.authenticate, sessions, credentials)
    if isinstance(agent, str):
        await websocket.close(code=1008, reason=agent)
        return
    actor = agent.actor
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
        Subscriber(actor.tenant_id, agent.user_id, actor.role, agent.team_ids),
        connection_id,
        asyncio.Queue(maxsize=settings.ws_queue_size),
        batch=batch,
        direct=websocket.scope.get("extensions", {}).get(DIRECT),
    )
    await run_in_threadpool(connections.open_connection, sessions, actor, connection_id, hub.bus.node_id)
    await hub.register(
        client,
        resume,
        {"type": "hello", "connection_id": connection_id, "node": hub.bus.node_id, "user_id": actor.user_id},
    )
    sender = start_sender(client, settings.ws_heartbeat_seconds)
    try:
        await serve_until_closed(
            _receive_loop(hub, client, actor, settings.ws_heartbeat_seconds * 3 + 10),
            sender,
            lambda: hub.unregister(client),
        )
    finally:
        await run_in_threadpool(connections.close_connection, sessions, connection_id)


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
        client.sending = True  # the hub queues behind this message instead of writing past it
        try:
            if isinstance(message, PreparedFrame):  # built once for every socket that gets it
                await websocket.send({"type": "websocket.send", "text": message.text, PREPARED: message})
            elif isinstance(message, str):  # already serialized by the hub
                await websocket.send_text(message)
            else:
                await websocket.send_json(message)
        finally:
            client.sending = False


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
                connections.visible_conversations, hub.rt.sessions, actor, ids
            )
        elif kind in ("typing", "viewing"):
            conversation_id = data.get("conversation_id")
            if not isinstance(conversation_id, int):
                client.offer({"type": "error", "message": f"{kind} needs an integer conversation_id"})
                continue
            if conversation_id not in client.subscriber.conversation_ids and not await run_in_threadpool(
                connections.visible_conversations, hub.rt.sessions, actor, [conversation_id]
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
            status, reason = data.get("status"), data.get("reason")
            try:
                await run_in_threadpool(
                    connections.set_presence,
                    hub.rt.sessions,
                    actor,
                    status if isinstance(status, str) else "",  # anything else is an unknown status
                    reason if isinstance(reason, str) else None,
                )
            except RaccordoError as exc:
                client.offer({"type": "error", "field": exc.field, "message": exc.key})
        else:
            client.offer(
                {"type": "error", "message": "unknown message type; use ping, subscribe, typing, viewing or presence"}
            )
