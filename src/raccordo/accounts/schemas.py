"""API shapes of accounts: login, the signed-in user, organizations, users, teams, tokens, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from raccordo.platform.web.schemas import FromRows, Id, Strict


class LoginIn(BaseModel):
    model_config = Strict
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    tenant: str | None = Field(
        default=None, max_length=64, description="Organization slug; needed only when the email belongs to several."
    )


class UserOut(BaseModel):
    model_config = FromRows
    id: int
    email: str
    name: str
    role: str
    language: str
    active: bool
    created_at: datetime


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str
    expires_at: datetime


class TenantOut(BaseModel):
    id: int
    slug: str
    name: str
    default_region: str
    default_language: str
    continuity_across_channels: bool = Field(
        description="A customer's message on another channel joins their open conversation."
    )
    reopen_window_hours: float = Field(
        description="A resolved conversation reopens when the customer writes within this many hours."
    )
    timezone: str = Field(
        description="The organization's timezone: the desktop shows times in it (Europe/Rome when not set)."
    )


class TenantPatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=200)
    default_region: str | None = Field(default=None, min_length=2, max_length=2)
    default_language: Literal["it", "en"] | None = None
    continuity_across_channels: bool | None = None
    reopen_window_hours: float | None = Field(default=None, ge=0, le=24 * 365)
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone (Europe/Rome): the desktop shows times in it and agenda times are entered in it.",
    )


class MeOut(BaseModel):
    user: UserOut
    tenant: dict[str, Any]
    team_ids: list[int]


class UserIn(BaseModel):
    model_config = Strict
    email: str = Field(max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["owner", "admin", "supervisor", "agent"]
    password: str | None = Field(default=None, max_length=1024)
    language: Literal["it", "en"] = "it"


class ProfilePatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: Literal["it", "en"] | None = None


class PasswordChangeIn(BaseModel):
    model_config = Strict
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class UserPatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Literal["owner", "admin", "supervisor", "agent"] | None = None
    language: Literal["it", "en"] | None = None
    active: bool | None = None
    password: str | None = Field(default=None, max_length=1024)


class TokenIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    model_config = FromRows
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; store it now.")


class TeamIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    member_ids: list[Id] = Field(default_factory=list)


class TeamPatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class TeamMembersIn(BaseModel):
    model_config = Strict
    user_ids: list[Id]


class TeamOut(BaseModel):
    id: int
    name: str
    description: str
    member_ids: list[int]


class AuditOut(BaseModel):
    model_config = FromRows
    id: int
    user_id: int | None
    action: str
    target_type: str
    target_id: int | None
    data: dict[str, Any]
    client_address: str | None
    created_at: datetime
