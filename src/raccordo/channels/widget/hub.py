"""The per-process hub of web widget visitors' sockets.

Like ``api/hub.py`` for agents, the bus only wakes it: on an ``events`` wake-up for a tenant
it reads that tenant's committed events after its cursor, and each visitor socket whose
contact or conversations they touch reads its new visible messages from the database
(``services/widget.updates``). An agent's reply is visible once the outbox has recorded it
sent, whichever process did that; a lost wake-up is repaired by the periodic pump. Agents'
typing comes as an ephemeral bus message. Presence changes and the clock (business hours)
refresh what the widget says about availability.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from raccordo.channels.widget.availability import inbox_availability
from raccordo.channels.widget.sessions import Visitor
from raccordo.channels.widget.visitor_view import View, mark_outbound, updates
from raccordo.platform.ratelimit import RateLimits
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Event
from raccordo.realtime.hub import CLOSE_SLOW, Hub
from raccordo.record.domain.messages import DeliveryStatus

log = logging.getLogger(__name__)

PUMP_SECONDS = 5.0
AVAILABILITY_SECONDS = 30.0
AVAILABILITY_KINDS = frozenset({"presence.changed"})


@dataclass(eq=False)
class VisitorClient:
    websocket: WebSocket
    visitor: Visitor
    queue: asyncio.Queue[dict[str, Any]]
    view: View = field(default_factory=View)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    availability: dict[str, Any] | None = None
    typing: bool = False
    closed: bool = False

    def offer(self, frame: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.closed = True
            task = asyncio.ensure_future(self.websocket.close(code=CLOSE_SLOW, reason="send queue overflow: reconnect"))
            _closing.add(task)
            task.add_done_callback(_closing.discard)


_closing: set[asyncio.Future[Any]] = set()


class WidgetHub:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.rt = hub.rt
        self.clients: dict[int, set[VisitorClient]] = {}
        self.cursors: dict[int, int] = {}
        self.limits = RateLimits(self.rt.settings.bus_url)
        self._dirty: set[int] = set()
        self._pumps: dict[int, asyncio.Task[None]] = {}
        self._housekeeping: asyncio.Task[None] | None = None
        hub.listeners.append(self.on_bus_message)

    @classmethod
    def of(cls, hub: Hub) -> WidgetHub:
        """The process's widget hub, made on first use."""
        existing = getattr(hub, "widget_hub", None)
        if existing is None:
            existing = cls(hub)
            hub.widget_hub = existing  # type: ignore[attr-defined]
        return existing

    # --- clients -----------------------------------------------------------------------------

    async def register(self, client: VisitorClient) -> None:
        tenant_id = client.visitor.tenant_id
        if tenant_id not in self.cursors:
            self.cursors[tenant_id] = await run_in_threadpool(self._last_event_id, tenant_id)
        self.clients.setdefault(tenant_id, set()).add(client)
        if self._housekeeping is None or self._housekeeping.done():
            self._housekeeping = asyncio.create_task(self._periodic())
        client.availability = await run_in_threadpool(inbox_availability, self.rt, client.visitor.inbox_id)
        async with client.lock:
            frames, fresh = await run_in_threadpool(updates, self.rt, client.visitor, client.view, history=True)
        client.offer(
            {
                "type": "hello",
                "visitor_id": client.visitor.visitor_id,
                "availability": client.availability,
                "messages": [f["message"] for f in frames if f["type"] == "message"],
                "agent_seen_at": client.view.agent_seen_at,
            }
        )
        await self._delivered(client, fresh)

    def unregister(self, client: VisitorClient) -> None:
        client.closed = True
        clients = self.clients.get(client.visitor.tenant_id)
        if clients is not None:
            clients.discard(client)
            if not clients:
                self.clients.pop(client.visitor.tenant_id, None)

    async def refresh(self, client: VisitorClient) -> None:
        """Send the client what became visible to it since its cursor."""
        if client.closed:
            return
        async with client.lock:
            frames, fresh = await run_in_threadpool(updates, self.rt, client.visitor, client.view)
        for frame in frames:
            client.offer(frame)
        await self._delivered(client, fresh)

    async def _delivered(self, client: VisitorClient, fresh: list[int]) -> None:
        if fresh:
            await run_in_threadpool(mark_outbound, self.rt, client.visitor, fresh, None, DeliveryStatus.DELIVERED.value)

    # --- bus ---------------------------------------------------------------------------------

    async def on_bus_message(self, message: dict[str, Any]) -> None:
        tenant_id = message.get("tenant_id")
        if not isinstance(tenant_id, int) or tenant_id not in self.clients:
            return
        kind = message.get("type")
        if kind == "events":
            self.schedule(tenant_id)
        elif kind == "typing" and message.get("user_id") is not None:
            # An agent typing; the visitor's own typing (user_id None) is for the agents only.
            for client in list(self.clients.get(tenant_id, ())):
                if message.get("conversation_id") in client.view.conversation_ids:
                    client.offer({"type": "typing", "state": bool(message.get("state", True))})

    def schedule(self, tenant_id: int) -> None:
        self._dirty.add(tenant_id)
        running = self._pumps.get(tenant_id)
        if running is None or running.done():
            self._pumps[tenant_id] = asyncio.create_task(self._pump(tenant_id))

    async def _pump(self, tenant_id: int) -> None:
        while tenant_id in self._dirty:
            self._dirty.discard(tenant_id)
            try:
                cursor, touched, availability_changed = await run_in_threadpool(
                    self._events_after, tenant_id, self.cursors.get(tenant_id, 0)
                )
            except Exception:  # the database is away: the periodic pump retries
                log.exception("widget hub: reading events failed")
                return
            self.cursors[tenant_id] = cursor
            contacts, conversations = touched
            for client in list(self.clients.get(tenant_id, ())):
                view = client.view
                if (view.contact_id is not None and view.contact_id in contacts) or conversations.intersection(
                    view.conversation_ids
                ):
                    try:
                        await self.refresh(client)
                    except Exception:
                        log.exception("widget hub: refreshing a visitor failed")
            if availability_changed:
                await self.refresh_availability(tenant_id)

    def _last_event_id(self, tenant_id: int) -> int:
        with unit_of_work(self.rt.sessions) as session:
            return session.scalar(select(func.max(Event.id)).where(Event.tenant_id == tenant_id)) or 0

    def _events_after(self, tenant_id: int, cursor: int) -> tuple[int, tuple[set[int], set[int]], bool]:
        contacts: set[int] = set()
        conversations: set[int] = set()
        availability_changed = False
        with unit_of_work(self.rt.sessions) as session:
            rows = session.execute(
                select(Event.id, Event.kind, Event.contact_id, Event.conversation_id)
                .where(Event.tenant_id == tenant_id, Event.id > cursor)
                .order_by(Event.id)
                .limit(5000)
            ).all()
        for event_id, kind, contact_id, conversation_id in rows:
            cursor = event_id
            if contact_id is not None:
                contacts.add(contact_id)
            if conversation_id is not None:
                conversations.add(conversation_id)
            availability_changed = availability_changed or kind in AVAILABILITY_KINDS
        return cursor, (contacts, conversations), availability_changed

    # --- availability ------------------------------------------------------------------------

    async def refresh_availability(self, tenant_id: int) -> None:
        by_inbox: dict[int, dict[str, Any]] = {}
        for client in list(self.clients.get(tenant_id, ())):
            inbox_id = client.visitor.inbox_id
            if inbox_id not in by_inbox:
                by_inbox[inbox_id] = await run_in_threadpool(inbox_availability, self.rt, inbox_id)
            if by_inbox[inbox_id] != client.availability:
                client.availability = by_inbox[inbox_id]
                client.offer({"type": "availability", "availability": client.availability})

    async def _periodic(self) -> None:
        last_availability = time.monotonic()
        while self.clients:
            await asyncio.sleep(PUMP_SECONDS)
            try:
                for tenant_id in list(self.clients):
                    self.schedule(tenant_id)
                if time.monotonic() - last_availability >= AVAILABILITY_SECONDS:
                    last_availability = time.monotonic()
                    for tenant_id in list(self.clients):
                        await self.refresh_availability(tenant_id)
            except Exception:  # keep serving; the next round retries
                log.exception("widget hub housekeeping failed")

    async def stop(self) -> None:
        tasks = [t for t in (self._housekeeping, *self._pumps.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
