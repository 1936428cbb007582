"""Inbox views by role: *mine*, *unassigned* and *my teams* for everyone, *all* for supervisors
and up (who may assign others' work). The pages' tabs and the REST ``view`` parameter both use
this, so an agent's list and search are the same set wherever they come from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission, Role, can
from raccordo.accounts.services.accounts import user_team_ids
from raccordo.platform.errors import Forbidden
from raccordo.record.models import Conversation
from raccordo.routing.models import QueueItem, QueueMember

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


# --- who may see and act on which conversation (docs/desktop.md, "Who may act on a conversation") ---


def _my_queue_items(actor: Actor) -> Any:
    """The conversations waiting in, or offered from, a queue the agent is a member of."""
    my_queues = select(QueueMember.queue_id).where(
        QueueMember.tenant_id == actor.tenant_id, QueueMember.user_id == actor.user_id
    )
    return select(QueueItem.conversation_id).where(
        QueueItem.tenant_id == actor.tenant_id,
        or_(QueueItem.queue_id.in_(my_queues), QueueItem.offered_user_id == actor.user_id),
    )


def visible_clause(session: Session, actor: Actor) -> ColumnElement[bool] | None:
    """The conversations an agent may list and read: their own, their teams' (read only when a
    teammate has them), and the unassigned ones of their teams, of their queues, or of no team.
    ``None``: the whole tenant (supervisors and up)."""
    if can(actor.role, Permission.ASSIGN_OTHERS):
        return None
    if actor.user_id is None:
        return Conversation.id.is_(None)  # an agent-level token without a user sees nothing
    teams = user_team_ids(session, actor.tenant_id, actor.user_id)
    unassigned_scope = [Conversation.team_id.is_(None), Conversation.id.in_(_my_queue_items(actor))]
    conditions = [Conversation.assignee_id == actor.user_id]
    if teams:
        conditions.append(Conversation.team_id.in_(teams))
        unassigned_scope.append(Conversation.team_id.in_(teams))
    conditions.append(and_(Conversation.assignee_id.is_(None), or_(*unassigned_scope)))
    return or_(*conditions)


def can_see(session: Session, actor: Actor, conversation: Conversation) -> bool:
    clause = visible_clause(session, actor)
    if clause is None:
        return True
    return session.scalar(select(Conversation.id).where(Conversation.id == conversation.id, clause)) is not None


def require_can_act(session: Session, actor: Actor, conversation: Conversation) -> None:
    """Agents change, answer and annotate only their own conversations and the unassigned ones
    they can see (taking one is acting on it); supervisors and up, any of the tenant."""
    if can(actor.role, Permission.ASSIGN_OTHERS):
        return
    if conversation.assignee_id is not None and conversation.assignee_id == actor.user_id:
        return
    if conversation.assignee_id is None and can_see(session, actor, conversation):
        return
    raise Forbidden("conversation.not_yours")


def visible_ids(session: Session, actor: Actor, conversation_ids: list[int]) -> set[int]:
    """Those of ``conversation_ids`` the actor may see (for WebSocket subscriptions)."""
    if not conversation_ids:
        return set()
    query = select(Conversation.id).where(
        Conversation.tenant_id == actor.tenant_id, Conversation.id.in_(conversation_ids)
    )
    clause = visible_clause(session, actor)
    if clause is not None:
        query = query.where(clause)
    return set(session.scalars(query))
