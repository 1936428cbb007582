"""Every package's tables on the one ``Base.metadata``: each capability keeps its tables in its own
``models.py``; the composition root imports them all, so migrations (autogenerate, schema
comparisons) and the app see the whole schema whatever was imported first."""

from __future__ import annotations

import importlib

TABLE_MODULES = (
    "raccordo.platform.store.models",
    "raccordo.accounts.models",
    "raccordo.channels.models",
    "raccordo.record.models",
    "raccordo.routing.models",
    "raccordo.realtime.models",
    "raccordo.desk.models",
)


def import_all() -> None:
    """Import every package's tables (idempotent)."""
    for name in TABLE_MODULES:
        importlib.import_module(name)
