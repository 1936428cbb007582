"""Imports every channel module so each registers itself. Add new channels here."""

from raccordo.channels.api_channel import channel as api  # noqa: F401
from raccordo.channels.email import channel as email  # noqa: F401
from raccordo.channels.widget import channel as widget  # noqa: F401
