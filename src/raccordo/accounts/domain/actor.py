"""Who is acting: the authenticated user (or the system), always bound to one tenant."""

from __future__ import annotations

from dataclasses import dataclass

from raccordo.accounts.domain.roles import Permission, Role, can
from raccordo.platform.errors import Forbidden


@dataclass(frozen=True)
class Actor:
    tenant_id: int
    user_id: int | None
    role: Role
    language: str = "en"
    client_address: str | None = None

    @property
    def actor_type(self) -> str:
        return "user" if self.user_id is not None else "system"

    def require(self, permission: Permission) -> None:
        if not can(self.role, permission):
            raise Forbidden("error.forbidden_role", role=self.role.value, permission=permission.value)


def system_actor(tenant_id: int) -> Actor:
    return Actor(tenant_id=tenant_id, user_id=None, role=Role.OWNER)
