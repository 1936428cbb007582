"""In-process bus: the embedded default. Local delivery is all there is."""

from __future__ import annotations

from typing import Any

from raccordo.platform.bus.base import Bus


class MemoryBus(Bus):
    @property
    def healthy(self) -> bool:
        return True

    async def _connect(self) -> None:
        return None

    async def _disconnect(self) -> None:
        return None

    async def _publish_remote(self, message: dict[str, Any]) -> None:
        return None
