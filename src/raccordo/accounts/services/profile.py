"""The signed-in user's own use cases (who am I, name and language, password, personal API
tokens; logging in and out is ``authentication``) as the pages and the REST API call them: each
opens, commits or rolls back its own unit of work and returns plain data."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.models import Tenant, User
from raccordo.accounts.services import teams, tokens, users
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain

Sessions = sessionmaker[Session]


def whoami(sessions: Sessions, actor: Actor) -> tuple[Any, Any, list[int]]:
    """The signed-in user, their tenant and their team ids."""
    with unit_of_work(sessions) as session:
        user = session.get_one(User, actor.user_id)
        tenant = session.get_one(Tenant, actor.tenant_id)
        return plain(user), plain(tenant), teams.user_team_ids(session, actor.tenant_id, actor.user_id)


def update_profile(sessions: Sessions, actor: Actor, *, name: str | None, language: str | None) -> Any:
    """Change one's own name and language; the user as stored."""
    with unit_of_work(sessions) as session:
        user = users.update_profile(session, actor, name=name, language=language)
        session.flush()
        return plain(user)


def change_own_password(
    sessions: Sessions, actor: Actor, *, current_password: str, new_password: str, keep_login_session: str | None
) -> None:
    with unit_of_work(sessions) as session:
        users.change_own_password(
            session,
            actor,
            current_password=current_password,
            new_password=new_password,
            keep_login_session=keep_login_session,
        )


def list_tokens(sessions: Sessions, actor: Actor) -> list[Any]:
    with unit_of_work(sessions) as session:
        return [plain(t) for t in tokens.list_tokens(session, actor)]


def create_token(sessions: Sessions, actor: Actor, name: str) -> tuple[Any, str]:
    """The new token's row and its secret, returned this once."""
    with unit_of_work(sessions) as session:
        token, secret = tokens.create_token(session, actor, name)
        session.flush()
        return plain(token), secret


def revoke_token(sessions: Sessions, actor: Actor, token_id: int) -> None:
    with unit_of_work(sessions) as session:
        tokens.revoke_token(session, actor, token_id)
