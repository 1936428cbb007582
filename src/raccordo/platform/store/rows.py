"""Rows as plain data: what a service's read model hands to pages, detached from the session."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import inspect


def plain(row: Any, **extra: Any) -> SimpleNamespace:
    """The row's column values (and ``extra``) as attributes; no lazy loads after the session closes."""
    values = {column.key: getattr(row, column.key) for column in inspect(type(row)).column_attrs}
    return SimpleNamespace(**values, **extra)
