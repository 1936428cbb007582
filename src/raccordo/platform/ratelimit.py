"""Rate limits for public endpoints (the web widget), on the ``limits`` library's moving windows.

With a Redis bus (``RACCORDO_BUS_URL=redis://...``) the counters live in that Redis, so a
limit holds across every process; otherwise (one process, or NATS) they are per process.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class RateLimits:
    def __init__(self, bus_url: str = "memory://") -> None:
        self.storage = storage_from_string(bus_url if bus_url.startswith(("redis://", "rediss://")) else "memory://")
        self.limiter = MovingWindowRateLimiter(self.storage)

    def hit(self, key: str, per_minute: int) -> int:
        """Count one hit; returns 0 when allowed, else the seconds to wait before the next one.

        A limiter that cannot reach its storage lets the hit through: a Redis outage must not
        stop visitors from writing (the other protections, body and message size, still hold)."""
        item = RateLimitItemPerMinute(per_minute)
        try:
            if self.limiter.hit(item, key):
                return 0
            reset = self.limiter.get_window_stats(item, key).reset_time
        except Exception:  # noqa: BLE001 - storage unreachable
            return 0
        return max(1, math.ceil(reset - time.time()))
