"""Installing the channels: every channel subpackage of ``raccordo.channels`` and every channel an
installed package declares under the ``raccordo.channels`` entry point group.

A channel subpackage is one with a ``channel`` module naming its ``Channel`` subclass ``CHANNEL``
(``channels/email/channel.py``); adding one needs no edit here. The app, the worker and the CLI
call ``install_channels`` when they start; it is idempotent.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from importlib.metadata import entry_points

import raccordo.channels
from raccordo.channels.base import Channel
from raccordo.channels.registry import channel_kinds, register

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "raccordo.channels"


def builtin_channel_modules() -> list[str]:
    """``raccordo.channels.<name>.channel`` for each subpackage that has one."""
    names = []
    for info in pkgutil.iter_modules(raccordo.channels.__path__):
        module = f"{raccordo.channels.__name__}.{info.name}.channel"
        if info.ispkg and importlib.util.find_spec(module) is not None:
            names.append(module)
    return sorted(names)


def install_channels() -> list[str]:
    """Register the built-in and installed channels; returns the kinds now available."""
    for name in builtin_channel_modules():
        channel_class = importlib.import_module(name).CHANNEL
        register(_checked(channel_class, name))
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            register(_checked(entry.load(), entry.value))
        except Exception:  # a broken third-party package must not stop the others
            log.exception("channel entry point %s (%s) could not be installed", entry.name, entry.value)
    return channel_kinds()


def _checked(channel_class: object, where: str) -> type[Channel]:
    if not (isinstance(channel_class, type) and issubclass(channel_class, Channel)):
        raise TypeError(f"{where}: CHANNEL must be a Channel subclass, not {channel_class!r}")
    return channel_class
