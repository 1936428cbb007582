"""Inbox views by role: *mine*, *unassigned* and *my teams* for everyone, *all* for supervisors
and up (who may assign others' work). The pages' tabs and the REST ``view`` parameter both use
this, so an agent's list and search are the same set wherever they come from."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from raccordo.platform.errors import Forbidden
from raccordo.accounts.domain.roles import Permission, Role, can
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.services.accounts import user_team_ids

AGENT_VIEWS = ("mine", "unassigned", "teams")
ALL_VIEWS = ("mine", "unassigned", "teams", "all")


def views_for(role: Role) -> tuple[str, ...]:
    return ALL_VIEWS if can(role, Permission.ASSIGN_OTHERS) else AGENT_VIEWS


def default_view(role: Role) -> str:
    return "all" if can(role, Permission.ASSIGN_OTHERS) else "mine"


def view_filters(session: Session, actor: Actor, view: str) -> dict[str, Any]:
    """The ``ConversationFilters`` fields of ``view``; a view the role does not have is forbidden."""
    if view not in views_for(actor.role):
        raise Forbidden("inbox.view_forbidden", view=view)
    if view == "mine":
        return {"assignee_id": actor.user_id if actor.user_id is not None else -1}
    if view == "unassigned":
        return {"unassigned": True}
    if view == "teams":
        return {"team_ids": tuple(user_team_ids(session, actor.tenant_id, actor.user_id))}
    return {}
