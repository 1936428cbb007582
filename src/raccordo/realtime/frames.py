"""WebSocket frames built once and written to many sockets.

An event (or a view's batch of events) fanned out to 1,000 sockets used to be serialized
once but compressed once per socket: each socket's permessage-deflate context was
stateful (context takeover), so the compressed bytes differed per socket. ``PreparedFrame``
holds the complete text frame, plain and deflated, built on first use and shared.

Sharing deflated bytes is only sound when every server-to-client message is compressed
from a fresh state: ``BroadcastWebSocketProtocol`` (uvicorn's sans-I/O websockets
protocol, which ``raccordo serve`` runs) negotiates ``server_no_context_takeover`` and
writes a prepared frame's bytes straight to the transport when the ASGI message carries
one under ``PREPARED``; the other messages (hello, pong, heartbeats) go through the
websockets encoder, which then also starts each message afresh. A socket whose client
negotiated a window smaller than the prepared one's, and any other ASGI server, get the
plain text of the same message instead, so nothing depends on the hook being there.

The protocol also offers ``write_prepared`` in the scope's extensions (``DIRECT``): the hub
writes a shared frame to every idle socket right in its dispatch (see ``hub.Client.offer_frame``),
and only a socket with something queued, a send in progress or a full transport buffer takes
the slower path through its queue and sender task.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory
from websockets.protocol import State
from websockets.server import ServerProtocol

PREPARED = "raccordo.prepared_frame"  # key of an ASGI "websocket.send" message carrying a PreparedFrame
DIRECT = "raccordo.direct_write"  # scope extension: a callable writing a PreparedFrame now, or answering False
WINDOW_BITS = 12  # the server window uvicorn negotiates; smaller means less memory per socket
MEM_LEVEL = 5
_TAIL = b"\x00\x00\xff\xff"  # RFC 7692: the empty stored block a sync flush ends with, removed on the wire


def _header(first: int, length: int) -> bytes:
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


class PreparedFrame:
    """One text message as complete, unmasked server frames: plain and permessage-deflate."""

    __slots__ = ("_deflated", "_plain", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._plain: bytes | None = None
        self._deflated: bytes | None = None

    def plain(self) -> bytes:
        if self._plain is None:
            data = self.text.encode()
            self._plain = _header(0x81, len(data)) + data  # FIN + text
        return self._plain

    def deflated(self) -> bytes:
        if self._deflated is None:
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -WINDOW_BITS, MEM_LEVEL)
            data = compressor.compress(self.text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
            if data.endswith(_TAIL):
                data = data[: -len(_TAIL)]
            self._deflated = _header(0xC1, len(data)) + data  # FIN + RSV1 (compressed) + text
        return self._deflated


class BroadcastWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets protocol, writing prepared frames without per-socket work."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if config.ws_per_message_deflate:
            factory = ServerPerMessageDeflateFactory(
                server_no_context_takeover=True,
                server_max_window_bits=WINDOW_BITS,
                client_max_window_bits=WINDOW_BITS,
                compress_settings={"memLevel": MEM_LEVEL},
            )
            self.conn = ServerProtocol(extensions=[factory], max_size=config.ws_max_size, logger=self.logger)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][DIRECT] = self.write_prepared

    def write_prepared(self, frame: PreparedFrame) -> bool:
        """Write the frame to the transport now, from the hub's own dispatch, when nothing stands
        in the way: an open connection whose transport is not paused (flow control) and whose
        extensions the prepared bytes suit. False: the caller sends it the normal way (its
        socket's queue and sender), which waits for what stood in the way.

        One synchronous write per socket instead of a queue hand-off, a task switch and the
        ASGI send chain: a list change for 1,000 sockets is 1,000 writes in one loop turn."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
            or self.disconnected
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
        ):
            return False
        data = self._prepared_bytes(frame)
        if data is None:
            return False
        self.transport.write(data)
        return True

    def _prepared_bytes(self, frame: PreparedFrame) -> bytes | None:
        """The frame's bytes for this connection's negotiated extensions; None: encode it normally."""
        extensions = self.conn.extensions
        if not extensions:
            return frame.plain()
        if len(extensions) == 1 and isinstance(extensions[0], PerMessageDeflate):
            deflate = extensions[0]
            if deflate.local_no_context_takeover and deflate.local_max_window_bits >= WINDOW_BITS:
                return frame.deflated()
        return None

    async def send(self, message: Any) -> None:
        frame = message.get(PREPARED) if message.get("type") == "websocket.send" else None
        if frame is None or not self.handshake_complete or self.close_sent or self.initial_response is not None:
            await super().send(message)
            return
        await self.writable.wait()
        if self.disconnected or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        data = self._prepared_bytes(frame)
        if data is None:
            await super().send({"type": "websocket.send", "text": frame.text})
            return
        self.transport.write(data)
