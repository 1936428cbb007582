"""The agents' WebSocket use cases (``realtime/api/ws.py``): who is connecting, a connection
opened and closed, which conversations a socket may follow, presence set from the socket.
Each opens, commits or rolls back its own unit of work, so the endpoint holds no session
while it waits on the socket."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.services import accounts
from raccordo.desk.services import inbox
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.services import presence

Sessions = sessionmaker[Session]


@dataclass(frozen=True)
class Credentials:
    """What the socket's opening request presented: a token (header or subprotocol) or a session cookie."""

    token: str | None
    cookie: str | None
    origin: str | None
    allowed_hosts: frozenset[str]  # this server's host as the request named it, and the public URL's


@dataclass(frozen=True)
class Agent:
    """Who the socket belongs to."""

    actor: Actor
    user_id: int  # the actor's, never None here (a socket is always a user's)
    team_ids: frozenset[int]


def authenticate(sessions: Sessions, credentials: Credentials) -> Agent | str:
    """The agent, or why the connection is refused. A token wins over the cookie; a cookie
    comes with an Origin check, since browsers send cookies cross-site on WebSockets."""
    with unit_of_work(sessions) as session:
        if credentials.token is not None:
            user = accounts.token_user(session, credentials.token)
            if user is None:
                return "invalid or revoked token"
        else:
            found = accounts.session_user(session, credentials.cookie) if credentials.cookie else None
            if found is None:
                return "log in first"
            if credentials.origin and urlparse(credentials.origin).netloc not in credentials.allowed_hosts:
                return "origin not allowed"
            user = found[0]
        actor = Actor(user.tenant_id, user.id, Role(user.role), user.language)
        return Agent(actor, user.id, frozenset(accounts.user_team_ids(session, user.tenant_id, user.id)))


def open_connection(sessions: Sessions, actor: Actor, connection_id: str, node: str) -> None:
    """A new tab: recorded in presence (an offline agent comes online)."""
    with unit_of_work(sessions) as session:
        presence.connect(session, actor, connection_id, node)


def close_connection(sessions: Sessions, connection_id: str) -> None:
    """A tab closed: its connection row ages out after the grace period (a reload does not flap)."""
    with unit_of_work(sessions) as session:
        presence.disconnect(session, connection_id)


def visible_conversations(sessions: Sessions, actor: Actor, conversation_ids: Iterable[int]) -> set[int]:
    """The subset of ``conversation_ids`` the agent may see: a subscription is no way around the listing rule."""
    with unit_of_work(sessions) as session:
        return inbox.visible_ids(session, actor, list(conversation_ids))


def set_presence(sessions: Sessions, actor: Actor, status: str, reason: str | None) -> None:
    """Presence chosen over the socket; raises ``InvalidInput`` for an unknown status or a long reason."""
    with unit_of_work(sessions) as session:
        presence.set_status(session, actor, status, reason)
