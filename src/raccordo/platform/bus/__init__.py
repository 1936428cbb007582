"""The event bus: carries committed events and wake-ups between processes.

The database is the source of truth; the bus only carries notifications, so a lost
message is recovered from the ``events`` table (clients resume, nodes catch up).
"""

from __future__ import annotations

from raccordo.platform.bus.base import SUBJECT, Bus, Handler
from raccordo.platform.bus.memory import MemoryBus


def make_bus(url: str, subject: str = SUBJECT) -> Bus:
    """``memory://`` (one process, the default), ``redis://host:port/db`` or ``nats://host:port``;
    ``subject``: the Redis channel or NATS subject, so deployments sharing a broker stay apart."""
    if not url or url.startswith("memory"):
        return MemoryBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from raccordo.platform.bus.redis import RedisBus

        return RedisBus(url, subject=subject)
    if url.startswith(("nats://", "tls://")):
        from raccordo.platform.bus.nats import NatsBus

        return NatsBus(url, subject=subject)
    raise ValueError(f"RACCORDO_BUS_URL must start with memory://, redis:// or nats://, not {url!r}")


__all__ = ["Bus", "Handler", "MemoryBus", "make_bus"]
