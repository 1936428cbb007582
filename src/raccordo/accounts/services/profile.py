"""The signed-in user's own use cases (logging in and out, who am I, name and language, password,
personal API tokens) as the pages and the REST API call them: each opens, commits or rolls back
its own unit of work and returns plain data."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.models import Tenant, User
from raccordo.accounts.services import accounts
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain

Sessions = sessionmaker[Session]


def whoami(sessions: Sessions, actor: Actor) -> tuple[Any, Any, list[int]]:
    """The signed-in user, their tenant and their team ids."""
    with unit_of_work(sessions) as session:
        user = session.get_one(User, actor.user_id)
        tenant = session.get_one(Tenant, actor.tenant_id)
        return plain(user), plain(tenant), accounts.user_team_ids(session, actor.tenant_id, actor.user_id)


def update_profile(sessions: Sessions, actor: Actor, *, name: str | None, language: str | None) -> Any:
    """Change one's own name and language; the user as stored."""
    with unit_of_work(sessions) as session:
        user = accounts.update_profile(session, actor, name=name, language=language)
        session.flush()
        return plain(user)


def change_own_password(
    sessions: Sessions, actor: Actor, *, current_password: str, new_password: str, keep_login_session: str | None
) -> None:
    with unit_of_work(sessions) as session:
        accounts.change_own_password(
            session,
            actor,
            current_password=current_password,
            new_password=new_password,
            keep_login_session=keep_login_session,
        )


def list_tokens(sessions: Sessions, actor: Actor) -> list[Any]:
    with unit_of_work(sessions) as session:
        return [plain(t) for t in accounts.list_tokens(session, actor)]


def create_token(sessions: Sessions, actor: Actor, name: str) -> tuple[Any, str]:
    """The new token's row and its secret, returned this once."""
    with unit_of_work(sessions) as session:
        token, secret = accounts.create_token(session, actor, name)
        session.flush()
        return plain(token), secret


def revoke_token(sessions: Sessions, actor: Actor, token_id: int) -> None:
    with unit_of_work(sessions) as session:
        accounts.revoke_token(session, actor, token_id)


# --- opening and closing a login session ----------------------------------------------------------


def log_in(
    sessions: Sessions,
    *,
    email: str,
    password: str,
    tenant_slug: str | None,
    client_address: str | None,
    max_failures: int,
    window_seconds: int,
    session_hours: int,
    account_max_failures: int,
) -> accounts.NewSession:
    """A new login session (``accounts.login``: its limits and answers), committed; a refused
    login's failures are committed by ``accounts.login`` before it raises, so they count anyway."""
    with unit_of_work(sessions) as session:
        return accounts.login(
            session,
            email=email,
            password=password,
            tenant_slug=tenant_slug,
            client_address=client_address,
            max_failures=max_failures,
            window_seconds=window_seconds,
            session_hours=session_hours,
            account_max_failures=account_max_failures,
        )


def log_out(sessions: Sessions, token: str) -> None:
    with unit_of_work(sessions) as session:
        accounts.logout(session, token)
