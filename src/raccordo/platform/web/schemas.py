"""What every package's API shapes share: id types bounded to the databases' keys, the strict
config, a PATCH body that refuses nulls, and the refusal of the NUL character in any text a client
sends. Each capability's request and response bodies (the OpenAPI document at /docs) are in its own
``schemas.py``.

PostgreSQL cannot store U+0000 in text (SQLite can), so a NUL that reached a use case used to fail at
the database; ``refuse_nul`` (a dependency of every route, installed by the app) answers it first with
a 422 naming the field, on both databases: in a JSON body (any depth, keys too), a query parameter or
a path parameter. Page forms are checked by ``platform.web.forms``; payloads a channel parses itself
by the channel, with ``nul_field``."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from fastapi import Path, Query
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import HTTPConnection, Request

from raccordo.platform.errors import InvalidInput

# Every id the API accepts fits the databases' 64-bit keys; larger ones are a clean 422, not a 500.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

Strict = ConfigDict(extra="forbid")


class NoNullPatch(BaseModel):
    """A PATCH body where ``null`` is refused (422) except for the fields in ``nullable``, whose
    ``null`` means "none" (no offer timeout, no overflow...). Omitting a field leaves it unchanged."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name in sorted(self.model_fields_set - self.nullable):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null: omit it to keep the current value")
        return self


FromRows = ConfigDict(from_attributes=True)


NUL = "\x00"
TEXT_NUL = "error.text_nul_field"


def shown_field(part: str | int) -> str:
    """A field's name as an error shows it: a name that holds the NUL itself has it escaped."""
    return str(part).replace(NUL, "\\u0000")


def nul_field(value: Any) -> str | None:
    """The dotted name (``settings.title.it``, ``attachments.0.filename``) of the first string in
    JSON-like data that holds U+0000, keys included (``body`` when ``value`` is such a string
    itself); None when there is none. Iterative: as deep as the JSON parser went, without recursion."""
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return ".".join(map(shown_field, path)) or "body"
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                if isinstance(key, str) and NUL in key:
                    pending.append(((*path, key), key))
                else:
                    pending.append(((*path, key), child))
        elif isinstance(item, list | tuple):
            pending.extend(((*path, index), child) for index, child in reversed(list(enumerate(item))))
    return None


async def refuse_nul(connection: HTTPConnection) -> None:
    """Every route's first check (``FastAPI(dependencies=...)``): a path or query parameter, or a
    JSON body the route validates, holding U+0000 is refused with a 422 naming the field. Bodies a
    route reads as bytes (a provider's webhook: stored raw first) are left to their channel."""
    if connection.scope["type"] != "http":
        return
    for name, value in connection.path_params.items():
        if isinstance(value, str) and NUL in value:
            raise InvalidInput(TEXT_NUL, field=shown_field(name))
    for name, value in connection.query_params.multi_items():
        if NUL in name or NUL in value:
            raise InvalidInput(TEXT_NUL, field=shown_field(name))
    route = connection.scope.get("route")
    if not isinstance(connection, Request) or not isinstance(route, APIRoute) or route.body_field is None:
        return
    # JSON spells the character \u0000 (a raw one is invalid JSON): most bodies are passed on
    # without being parsed here; FastAPI has read them already and the parsed body is cached.
    if b"\\u0000" not in await connection.body():
        return
    try:
        data = await connection.json()
    except ValueError:
        return  # invalid JSON: FastAPI's own 422 says where
    field = nul_field(data)
    if field is not None:
        raise InvalidInput(TEXT_NUL, field=field)
