"""The bus interface. Messages are JSON-able dicts; every node also delivers its own messages locally,
so its own clients keep working while the broker is away."""

from __future__ import annotations

import asyncio
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
SUBJECT = "raccordo.bus"


class Bus(ABC):
    def __init__(self) -> None:
        self.node_id = uuid.uuid4().hex[:12]
        self._handler: Handler | None = None
        self._on_reconnect: Callable[[], Awaitable[None]] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self, handler: Handler, on_reconnect: Callable[[], Awaitable[None]] | None = None) -> None:
        """Begin delivering messages to ``handler``; ``on_reconnect`` runs after a broker outage ends."""
        self.loop = asyncio.get_running_loop()
        self._handler = handler
        self._on_reconnect = on_reconnect
        await self._connect()

    async def stop(self) -> None:
        await self._disconnect()

    async def publish(self, message: dict[str, Any]) -> None:
        """Deliver locally, then to the other nodes. Never raises for a broker outage."""
        message = {**message, "origin": self.node_id}
        if self._handler is not None:
            await self._handler(message)
        try:
            await self._publish_remote(message)
        except Exception as exc:  # noqa: BLE001 - the broker is away: local clients were served, others catch up later
            log.warning("bus publish failed (%s): %s", type(exc).__name__, exc)

    def publish_threadsafe(self, message: dict[str, Any]) -> None:
        """Publish from a worker thread (services run outside the event loop)."""
        if self.loop is None or self.loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.publish(message), self.loop)

    async def _received(self, message: dict[str, Any]) -> None:
        """Called by implementations for messages from the broker."""
        if message.get("origin") == self.node_id or self._handler is None:
            return
        await self._handler(message)

    async def _reconnected(self) -> None:
        if self._on_reconnect is not None:
            await self._on_reconnect()

    @property
    @abstractmethod
    def healthy(self) -> bool:
        """Whether messages reach the other nodes right now."""

    @property
    def kind(self) -> str:
        return type(self).__name__

    @abstractmethod
    async def _connect(self) -> None: ...

    @abstractmethod
    async def _disconnect(self) -> None: ...

    @abstractmethod
    async def _publish_remote(self, message: dict[str, Any]) -> None: ...
