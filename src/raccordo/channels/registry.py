"""The registry of installed channels, filled by the composition root.

``bootstrap/channels.py`` registers every channel subpackage of ``raccordo.channels`` and every
``raccordo.channels`` entry point of installed packages when the app, the worker or the CLI
starts; tests register their own channels the same way (``register`` / ``unregister``). Nothing
here imports a channel: the registry is a leaf, so any module may ask it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raccordo.channels.base import Channel

_CHANNELS: dict[str, Channel] = {}


def register(channel_class: type[Channel]) -> type[Channel]:
    """Install a channel (a ``Channel`` subclass); registering the same class again is a no-op,
    another class under a kind already taken is an error (two modules claiming one kind)."""
    existing = _CHANNELS.get(channel_class.kind)
    if existing is not None:
        if type(existing) is channel_class:
            return channel_class
        raise ValueError(f"channel kind {channel_class.kind!r} is already registered by {type(existing).__module__}")
    _CHANNELS[channel_class.kind] = channel_class()
    return channel_class


def unregister(kind: str) -> None:
    _CHANNELS.pop(kind, None)


def get_channel(kind: str) -> Channel | None:
    return _CHANNELS.get(kind)


def channel_kinds() -> list[str]:
    return sorted(_CHANNELS)


def channels() -> list[Channel]:
    return [_CHANNELS[kind] for kind in sorted(_CHANNELS)]
