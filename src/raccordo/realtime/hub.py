"""The per-process WebSocket hub: delivers committed events, typing and viewing to connected clients.

Bus messages about events are only wake-ups: the hub reads the tenant's events after
its cursor from the database and dispatches them in id order. Ids within a tenant are
assigned in commit order (services/events.py), so a client gets every event once and
in order, whatever order the wake-ups arrive in, and a lost wake-up is repaired by the
next one, by the periodic pump, or by the catch-up after a bus outage.

Each client has a bounded send queue; a client that cannot keep up is disconnected
with a reason, never slowing the others.

Fan-out cost (bench/realtime.py): the clients of a tenant are grouped by *view* (user,
role, teams: what ``visible`` looks at besides a client's own subscriptions), so the rule
runs once per event per view, not per socket. Each frame is serialized and compressed
once (``frames.PreparedFrame``) and the same bytes go to every socket that gets it. A
client that connected with ``?batch=1`` gets one ``events`` frame per pump with every
event of that pump it may see (the list updates of a burst coalesced), shared by every
socket of its view; other clients get one ``event`` frame per event, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from raccordo.accounts.domain.roles import Role
from raccordo.platform.bus import Bus
from raccordo.platform.events import event_message, wakeups
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Event
from raccordo.realtime.domain.visibility import Subscriber, visible
from raccordo.realtime.frames import PreparedFrame
from raccordo.realtime.services import presence

log = logging.getLogger(__name__)

BACKLOG_LIMIT = 5000  # a client further behind than this is told to reload instead
EPHEMERAL = frozenset({"typing", "viewing"})
CLOSE_SLOW = 4008
VIEWING_TTL = 30.0
PUMP_INTERVAL = 0.015  # seconds between two reads of a tenant's events: adds at most this much latency


class SlowClient(Exception):
    pass


@dataclass(eq=False)
class Client:
    websocket: WebSocket
    subscriber: Subscriber
    connection_id: str
    queue: asyncio.Queue[dict[str, Any] | str | PreparedFrame]  # str, PreparedFrame: already serialized by the hub
    last_sent_id: int = 0
    batch: bool = False  # live events as one "events" frame per pump (the client asked for it)
    # Writes a prepared frame to the socket at once, or answers False (``frames.DIRECT``; None: the
    # server offers no such hook). Used only while nothing is queued or being sent, so order holds.
    direct: Callable[[PreparedFrame], bool] | None = None
    sending: bool = False  # the sender took a message off the queue and has not finished writing it
    closed: bool = False
    overflowed: bool = False
    # Set by the connection: closes the socket from outside the sender, which may be blocked on a stuck peer.
    on_overflow: Callable[[], None] | None = None

    def offer(self, message: dict[str, Any], text: str | None = None) -> None:
        """Queue ``message`` for the client; ``text``: the same message already serialized
        (an event fanned out to many clients is serialized once, not once per client)."""
        if self.closed:
            return
        event_id = message.get("id")
        if event_id is not None:
            if event_id <= self.last_sent_id:
                return
            self.last_sent_id = event_id
        try:
            self.queue.put_nowait(text if text is not None else message)
        except asyncio.QueueFull:
            self._overflow()

    def offer_frame(self, last_id: int, frame: PreparedFrame) -> None:
        """Send a frame the hub prepared for many clients, holding events up to ``last_id``:
        written at once when the socket is idle, else queued behind what it is sending."""
        if self.closed:
            return
        self.last_sent_id = last_id
        if self.direct is not None and not self.sending and self.queue.empty() and self.direct(frame):
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._overflow()

    def _overflow(self) -> None:
        self.overflowed = True
        self.closed = True
        if self.on_overflow is not None:
            self.on_overflow()

    @property
    def view(self) -> tuple[int, Any, frozenset[int]]:
        """What the visibility rule looks at besides the client's own subscriptions."""
        return (self.subscriber.user_id, self.subscriber.role, self.subscriber.team_ids)


class EventReader:
    """The hub's reads of committed events on one connection it keeps: a pump costs the
    query and its commit, not a pool checkout (with its liveness ping) and an ORM session.
    Core rows carry the same typed values as the ORM's, so ``event_message`` is unchanged.
    A connection the database dropped is replaced and the read retried once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()  # pumps of different tenants run in different threads
        self._connection: Connection | None = None

    def _read(self, statement: Any) -> list[Any]:
        with self._lock:
            for attempt in (1, 2):
                if self._connection is None:
                    connection = self.engine.connect()
                    if self.engine.dialect.name == "postgresql":  # a read needs no transaction: one round trip
                        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                    self._connection = connection
                try:
                    rows = self._connection.execute(statement).all()
                    self._connection.commit()  # ends the read (on SQLite, frees the writer lock; PostgreSQL: no-op)
                    return list(rows)
                except BaseException as exc:
                    self.close_locked()
                    if attempt == 2 or not (isinstance(exc, DBAPIError) and exc.connection_invalidated):
                        raise
            raise AssertionError("unreachable")

    def events_after(self, tenant_id: int, after_id: int, limit: int) -> list[dict[str, Any]]:
        table = Event.__table__
        rows = self._read(
            select(table).where(table.c.tenant_id == tenant_id, table.c.id > after_id).order_by(table.c.id).limit(limit)
        )
        return [event_message(row) for row in rows]

    def last_event_id(self, tenant_id: int) -> int:
        rows = self._read(select(func.max(Event.__table__.c.id)).where(Event.__table__.c.tenant_id == tenant_id))
        return rows[0][0] or 0

    def close_locked(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def close(self) -> None:
        with self._lock:
            self.close_locked()


@dataclass
class TenantState:
    cursor: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    dirty: bool = False
    pumping: bool = False
    pumped_at: float = 0.0  # event-loop time the last read ended


class Hub:
    def __init__(self, rt: Runtime, bus: Bus) -> None:
        self.rt = rt
        self.bus = bus
        self.clients: dict[int, set[Client]] = {}
        self.tenants: dict[int, TenantState] = {}
        # (tenant, conversation) -> {user_id: expiry}
        self.viewers: dict[tuple[int, int], dict[int, float]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.delivered = 0
        self.lag_seconds = 0.0
        self.on_wake: Callable[[], None] | None = None
        # Other per-process hubs (the web widget's) that see every bus message too.
        self.listeners: list[Callable[[dict[str, Any]], Awaitable[None]]] = []
        self.reader = EventReader(rt.engine) if rt is not None else None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.bus.start(self.on_bus_message, on_reconnect=self.catch_up)
        self.rt.publisher = self._publish_committed
        self._tasks.append(asyncio.create_task(self._housekeeping()))

    async def stop(self) -> None:
        if self.rt.publisher == self._publish_committed:
            self.rt.publisher = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.bus.stop()
        if self.reader is not None:
            await run_in_threadpool(self.reader.close)

    def _publish_committed(self, events: list[dict[str, Any]]) -> None:
        """Called from service threads after a commit."""
        for message in wakeups(events):
            self.bus.publish_threadsafe(message)

    @property
    def client_count(self) -> int:
        return sum(len(c) for c in self.clients.values())

    # --- bus ---------------------------------------------------------------------------------

    async def on_bus_message(self, message: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                await listener(message)
            except Exception:  # one listener's bug must not stop the agents' stream
                log.exception("bus listener failed")
        kind = message.get("type")
        if kind == "wake" and self.on_wake is not None:  # the embedded worker: work was queued somewhere
            self.on_wake()
            return
        tenant_id = message.get("tenant_id")
        if not isinstance(tenant_id, int):
            return
        if kind == "events":
            if tenant_id in self.clients:
                await self.pump(tenant_id)
        elif kind in EPHEMERAL:
            self._relay_ephemeral(tenant_id, message)

    async def catch_up(self) -> None:
        """After a bus outage: read what other nodes committed meanwhile."""
        for tenant_id in list(self.clients):
            await self.pump(tenant_id)

    async def pump(self, tenant_id: int) -> None:
        """Dispatch the tenant's committed events after the cursor, in order. Coalesces bursts."""
        state = self.tenants.setdefault(tenant_id, TenantState())
        state.dirty = True
        if state.pumping:
            return
        state.pumping = True
        try:
            loop = asyncio.get_running_loop()
            while state.dirty:
                # At most one read per PUMP_INTERVAL: under a stream of commits the wake-ups that
                # arrive meanwhile share the next read (a read and its fan-out cost more than waiting).
                wait = state.pumped_at + PUMP_INTERVAL - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                state.dirty = False
                async with state.lock:
                    rows = await run_in_threadpool(self._events_after, tenant_id, state.cursor, 1000)
                    state.pumped_at = loop.time()
                    if rows:
                        state.cursor = rows[-1]["id"]
                        self._dispatch(tenant_id, rows)
                    if len(rows) == 1000:
                        state.dirty = True
        finally:
            state.pumping = False

    def _events_after(self, tenant_id: int, after_id: int, limit: int) -> list[dict[str, Any]]:
        assert self.reader is not None
        return self.reader.events_after(tenant_id, after_id, limit)

    def _last_event_id(self, tenant_id: int) -> int:
        assert self.reader is not None
        return self.reader.last_event_id(tenant_id)

    def _dispatch(self, tenant_id: int, messages: list[dict[str, Any]]) -> None:
        """Offer one pump's events to the tenant's clients: the rule once per event and view,
        each frame built once. Exactly what ``visible(message, client.subscriber)`` allows:
        the rule is a disjunction in which only ``conversation_ids`` differs between the
        clients of a view, so a client gets its view's events plus those of its subscriptions."""
        clients = self.clients.get(tenant_id)
        if not clients or not messages:
            return
        views: dict[tuple[int, Any, frozenset[int]], list[Client]] = {}
        for client in clients:
            views.setdefault(client.view, []).append(client)
        singles: dict[int, PreparedFrame] = {}  # event id -> its "event" frame, shared by every client
        batches: dict[
            tuple[int, ...], PreparedFrame
        ] = {}  # event ids -> their "events" frame: views that see the same share it

        def batch(events: list[dict[str, Any]]) -> PreparedFrame:
            key = tuple(m["id"] for m in events)
            frame = batches.get(key)
            if frame is None:
                frame = batches[key] = _batch_frame(events)
            return frame

        def single(message: dict[str, Any]) -> PreparedFrame:
            frame = singles.get(message["id"])
            if frame is None:
                frame = singles[message["id"]] = PreparedFrame(
                    json.dumps(message, separators=(",", ":"), ensure_ascii=False)
                )
            return frame

        for (user_id, role, team_ids), members in views.items():
            rule = Subscriber(tenant_id, user_id, role, team_ids)
            seen = [message for message in messages if visible(message, rule)]
            for client in members:
                own = seen
                subscribed = client.subscriber.conversation_ids
                if subscribed:
                    extra = [
                        m
                        for m in messages
                        if m.get("conversation_id") in subscribed and m.get("tenant_id") == tenant_id
                    ]
                    if extra:
                        own = sorted({m["id"]: m for m in (*seen, *extra)}.values(), key=lambda m: m["id"])
                if own and own[0]["id"] <= client.last_sent_id:  # already sent (a backlog on register)
                    own = [m for m in own if m["id"] > client.last_sent_id]
                if not own:
                    continue
                self.delivered += len(own)
                if not client.batch:
                    for message in own:
                        client.offer_frame(message["id"], single(message))
                else:
                    client.offer_frame(own[-1]["id"], batch(own))
        created = messages[-1].get("created_at")
        if created:
            self.lag_seconds = max(0.0, time.time() - datetime.fromisoformat(created).timestamp())

    def _relay_ephemeral(self, tenant_id: int, message: dict[str, Any]) -> None:
        conversation_id = message.get("conversation_id")
        if message["type"] == "viewing" and isinstance(conversation_id, int):
            viewers = self.viewers.setdefault((tenant_id, conversation_id), {})
            if message.get("state", True):
                viewers[message["user_id"]] = time.monotonic() + VIEWING_TTL
            else:
                viewers.pop(message["user_id"], None)
            outgoing = {
                "type": "viewers",
                "conversation_id": conversation_id,
                "user_ids": self.current_viewers(tenant_id, conversation_id),
            }
        else:
            outgoing = {key: message.get(key) for key in ("type", "conversation_id", "user_id", "state")}
        for client in list(self.clients.get(tenant_id, ())):
            if client.subscriber.user_id == message.get("user_id"):
                # The viewer learns who else is already there; their own typing is not echoed.
                if outgoing["type"] == "viewers":
                    client.offer(outgoing)
                continue
            if conversation_id in client.subscriber.conversation_ids or client.subscriber.role.at_least(
                Role.SUPERVISOR
            ):
                client.offer(outgoing)

    def current_viewers(self, tenant_id: int, conversation_id: int) -> list[int]:
        now = time.monotonic()
        viewers = self.viewers.get((tenant_id, conversation_id), {})
        for user_id in [u for u, expiry in viewers.items() if expiry < now]:
            viewers.pop(user_id, None)
        return sorted(viewers)

    # --- clients -----------------------------------------------------------------------------

    async def register(self, client: Client, resume_from: int | None, hello: dict[str, Any]) -> None:
        """Add a client; with ``resume_from`` send what it missed first. No gap, no duplicate.

        ``hello`` goes first and carries ``last_event_id``: the stream starts right after it,
        so a client without a resume point loads the current state after reading hello.
        """
        tenant_id = client.subscriber.tenant_id
        state = self.tenants.setdefault(tenant_id, TenantState())
        async with state.lock:
            if tenant_id not in self.clients:
                state.cursor = await run_in_threadpool(self._last_event_id, tenant_id)
            client.last_sent_id = state.cursor
            client.queue.put_nowait({**hello, "last_event_id": state.cursor})
            if resume_from is not None and resume_from < state.cursor:
                backlog = await run_in_threadpool(self._events_after, tenant_id, resume_from, BACKLOG_LIMIT + 1)
                backlog = [m for m in backlog if m["id"] <= state.cursor]
                if len(backlog) > BACKLOG_LIMIT:
                    client.queue.put_nowait({"type": "resync", "reason": "too far behind: reload the current state"})
                else:
                    for message in backlog:
                        if visible(message, client.subscriber):
                            client.queue.put_nowait(message)
            self.clients.setdefault(tenant_id, set()).add(client)

    def unregister(self, client: Client) -> None:
        client.closed = True
        tenant_clients = self.clients.get(client.subscriber.tenant_id)
        if tenant_clients is not None:
            tenant_clients.discard(client)
            if not tenant_clients:
                self.clients.pop(client.subscriber.tenant_id, None)

    async def _housekeeping(self) -> None:
        """Heartbeat connections in the database, sweep dead presence, pump as a safety net."""
        interval = max(1.0, self.rt.settings.ws_heartbeat_seconds / 2)
        while True:
            await asyncio.sleep(interval)
            try:
                ids = [c.connection_id for clients in self.clients.values() for c in clients]
                await run_in_threadpool(self._heartbeat_and_sweep, ids)
                for tenant_id in list(self.clients):
                    await self.pump(tenant_id)
            except Exception:  # keep serving; the next round retries
                log.exception("hub housekeeping failed")

    def _heartbeat_and_sweep(self, connection_ids: list[str]) -> None:
        with unit_of_work(self.rt.sessions) as session:
            presence.heartbeat(session, connection_ids)
        with unit_of_work(self.rt.sessions) as session:
            presence.sweep(session, timedelta(seconds=self.rt.settings.presence_grace_seconds))


def _batch_frame(messages: list[dict[str, Any]]) -> PreparedFrame:
    return PreparedFrame(json.dumps({"type": "events", "events": messages}, separators=(",", ":"), ensure_ascii=False))
