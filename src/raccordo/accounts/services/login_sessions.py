"""Logging in (the password check under the failure limits) opens a login session; the session
cookie names it until it expires or the user logs out."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import LoginSession, Tenant, User
from raccordo.accounts.services import failure_limits
from raccordo.accounts.services.passwords import hash_password, needs_rehash, verify_password
from raccordo.accounts.services.tokens import token_digest
from raccordo.platform.errors import InvalidInput, Unauthorized
from raccordo.record.domain.identities import normalize_email
from raccordo.record.services.records import audit


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    user: User
    expires_at: datetime


def login(
    session: Session,
    *,
    email: str,
    password: str,
    tenant_slug: str | None,
    client_address: str | None,
    max_failures: int,
    window_seconds: int,
    session_hours: int,
    account_max_failures: int = 50,
) -> NewSession:
    """Checks the password and opens a login session.

    Failed logins are counted per account (organization + email) and client address
    (``max_failures``), per client address over every email (four times as many), and per account
    over every address (``account_max_failures``, a distributed attack). So an attacker's guesses
    lock the attacker's address out of the account, not the owner typing the right password
    elsewhere. An email nobody has is counted and answered exactly like a real one (the same 401,
    the same 429, a dummy hash checked in the same time), and an email in several organizations
    is not asked for its organization before a password matches more than one of them."""
    now = datetime.now(UTC)
    window = timedelta(seconds=window_seconds)
    try:
        email = normalize_email(email)  # the same form user creation stored
    except InvalidInput:
        email = email.strip().lower()
    address = (client_address or "-")[:100]
    address_key = f"addr:{address}"
    query = (
        select(User, Tenant.slug)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.email == email, User.active.is_(True))
    )
    if tenant_slug:
        query = query.where(Tenant.slug == tenant_slug)
    candidates = [(user, slug) for user, slug in session.execute(query.order_by(User.id))]
    keys = [failure_limits.account_keys(slug, email, address) for _, slug in candidates] or [
        failure_limits.account_keys(tenant_slug or "-", email, address)
    ]
    limits = [
        (address_key, max_failures * 4),
        *((here, max_failures) for _, here in keys),
        *((everywhere, account_max_failures) for everywhere, _ in keys),
    ]
    failure_limits.enforce(session, limits, window, now)
    if candidates:
        matched = [
            (user, key)
            for (user, _), key in zip(candidates, keys, strict=True)
            if verify_password(user.password_hash, password)
        ]
    else:
        matched = []
        verify_password(None, password)  # the time of a real check, so timing does not tell the email is unknown
    if not matched:
        failure_limits.record_failures(session, [address_key, *(key for pair in keys for key in pair)], now, window)
        raise Unauthorized("login.failed")
    if len(matched) > 1:
        # This password opens the email's account in several organizations: only now, to someone
        # who knows it, is there anything to ask.
        raise InvalidInput("login.tenant_required", field="tenant")
    user, (_, here) = matched[0]
    failure_limits.clear(session, here)
    # The password matched, so the user has a stored hash.
    if user.password_hash is not None and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + timedelta(hours=session_hours)
    session.add(
        LoginSession(
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=token_digest(token),
            csrf_token=csrf,
            expires_at=expires,
        )
    )
    audit(
        session,
        Actor(user.tenant_id, user.id, Role(user.role), client_address=client_address),
        "user.login",
        "user",
        user.id,
    )
    return NewSession(token, csrf, user, expires)


def session_user(session: Session, token: str) -> tuple[User, LoginSession] | None:
    """The active user of the live login session the cookie's token names, and that session."""
    row = session.scalars(select(LoginSession).where(LoginSession.token_hash == token_digest(token))).one_or_none()
    if row is None or row.expires_at <= datetime.now(UTC):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user, row


def logout(session: Session, token: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == token_digest(token)))
