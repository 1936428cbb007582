"""Imports every channel module so each registers itself. Add new channels here."""

from raccordo.adapters.channels import api  # noqa: F401
from raccordo.adapters.channels import email  # noqa: F401
from raccordo.adapters.channels import widget  # noqa: F401
