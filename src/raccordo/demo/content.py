"""Reads the demo's content from the JSON files shipped in ``demo/data`` (package data)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from raccordo.demo.domain.content import Content, parse_content

FILES = ("organization", "people", "topics", "phrases", "setup")


def _read(name: str) -> Any:
    return json.loads((files("raccordo.demo") / "data" / f"{name}.json").read_text(encoding="utf-8"))


@cache
def load_content() -> Content:
    """The demo's content, parsed and checked once per process."""
    return parse_content(*(_read(name) for name in FILES))
