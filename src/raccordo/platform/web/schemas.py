"""What every package's API shapes share: id types bounded to the databases' keys, the strict
config, a PATCH body that refuses nulls. Each capability's request and response bodies (the OpenAPI
document at /docs) are in its own ``schemas.py``."""

from __future__ import annotations

from typing import Annotated, ClassVar, Self

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

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
