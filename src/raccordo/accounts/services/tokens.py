"""Personal API tokens (created, checked, listed, revoked), stored as digests only."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission, Role, can_grant
from raccordo.accounts.models import ApiToken, User
from raccordo.platform.errors import Forbidden, InvalidInput
from raccordo.record.services.records import audit, get_owned


def token_digest(token: str) -> str:
    """What is stored of an API token or a login session's token."""
    # Tokens are 256-bit random values, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, actor: Actor, name: str) -> tuple[ApiToken, str]:
    """A personal API token acting as the calling user; the plain value is shown once."""
    actor.require(Permission.READ)
    if actor.user_id is None:
        raise InvalidInput("token.needs_user")
    plain = "rac_" + secrets.token_urlsafe(32)
    token = ApiToken(
        tenant_id=actor.tenant_id, user_id=actor.user_id, name=name, token_hash=token_digest(plain), prefix=plain[:10]
    )
    session.add(token)
    session.flush()
    audit(session, actor, "token.create", "api_token", token.id, {"name": name})
    return token, plain


def token_user(session: Session, plain: str) -> User | None:
    token = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == token_digest(plain), ApiToken.revoked_at.is_(None))
    ).one_or_none()
    if token is None:
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        return None
    now = datetime.now(UTC)
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        token.last_used_at = now  # coarse, so reads do not write on every request
    return user


def list_tokens(session: Session, actor: Actor) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.tenant_id == actor.tenant_id, ApiToken.user_id == actor.user_id)
            .order_by(ApiToken.id)
        )
    )


def revoke_token(session: Session, actor: Actor, token_id: int) -> None:
    token = get_owned(session, ApiToken, actor.tenant_id, token_id)
    if token.user_id != actor.user_id:
        actor.require(Permission.MANAGE_USERS)
        owner = session.get_one(User, token.user_id)
        if not can_grant(actor.role, Role(owner.role)):
            raise Forbidden("user.role_not_grantable", role=owner.role)
    token.revoked_at = datetime.now(UTC)
    audit(session, actor, "token.revoke", "api_token", token.id)
