"""The life of a server-side WebSocket once accepted, shared by the agents' ``/ws`` and the web
widget's visitor socket (``channels/widget/api.py``): run its receive side until the peer goes,
then leave the hub and stop the send loop, waiting for it, however the receive side ended."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from starlette.websockets import WebSocketDisconnect


async def serve_until_closed(
    receive: Awaitable[None], sender: asyncio.Task[None], on_close: Callable[[], None]
) -> None:
    """Await ``receive`` (the socket's receive loop, and whatever must run with it); a disconnect
    ends it quietly. Then ``on_close`` (e.g. ``hub.unregister``: nothing more is queued for the
    socket) and the sender is cancelled and awaited, its own ending (a closed socket) swallowed."""
    try:
        await receive
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: Starlette's answer to using a closed socket
        pass
    finally:
        on_close()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
