"""Users: creating, changing and listing them (role grants, the last owner, passwords), and the
signed-in user's own name, language and password."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission, Role, can_grant
from raccordo.accounts.models import LoginSession, User
from raccordo.accounts.services import failure_limits
from raccordo.accounts.services.passwords import hash_password, verify_password
from raccordo.accounts.services.tokens import token_digest
from raccordo.platform.errors import Conflict, Forbidden, InvalidInput
from raccordo.platform.i18n import LANGUAGES
from raccordo.record.domain.identities import normalize_email
from raccordo.record.services.records import audit, get_owned

MIN_PASSWORD = 10


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("user.password_short", field="password", minimum=MIN_PASSWORD)


def create_user(
    session: Session, actor: Actor, *, email: str, name: str, role: str, password: str | None, language: str = "it"
) -> User:
    actor.require(Permission.MANAGE_USERS)
    try:
        role_ = Role(role)
    except ValueError:
        raise InvalidInput("user.role_unknown", field="role", value=role) from None
    if not can_grant(actor.role, role_):
        raise Forbidden("user.role_not_grantable", role=role)
    email = normalize_email(email)
    if language not in LANGUAGES:
        raise InvalidInput("user.language_unknown", field="language", value=language)
    if session.scalar(select(User.id).where(User.tenant_id == actor.tenant_id, User.email == email)) is not None:
        raise Conflict("user.email_taken", field="email", value=email)
    if password is not None:
        _check_password(password)
    user = User(
        tenant_id=actor.tenant_id,
        email=email,
        name=name,
        role=role_.value,
        language=language,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    audit(session, actor, "user.create", "user", user.id, {"email": email, "role": role_.value})
    return user


def update_user(
    session: Session,
    actor: Actor,
    user_id: int,
    *,
    name: str | None = None,
    role: str | None = None,
    language: str | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> User:
    user = get_owned(session, User, actor.tenant_id, user_id)
    is_self = user.id == actor.user_id
    if not is_self or role is not None or active is not None:
        actor.require(Permission.MANAGE_USERS)
        if not can_grant(actor.role, Role(user.role)):
            raise Forbidden("user.role_not_grantable", role=user.role)
    changes: dict[str, object] = {}
    was_active_owner = user.role == Role.OWNER.value and user.active
    if name is not None:
        user.name = changes["name"] = name
    if language is not None:
        if language not in LANGUAGES:
            raise InvalidInput("user.language_unknown", field="language", value=language)
        user.language = changes["language"] = language
    if role is not None:
        try:
            new_role = Role(role)
        except ValueError:
            raise InvalidInput("user.role_unknown", field="role", value=role) from None
        if not can_grant(actor.role, new_role):
            raise Forbidden("user.role_not_grantable", role=role)
        user.role = changes["role"] = new_role.value
    if active is not None:
        if is_self and not active:
            raise InvalidInput("user.cannot_deactivate_self", field="active")
        user.active = changes["active"] = active
        if not active:
            session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    if password is not None:
        if is_self:
            # Changing one's own password needs the current one (change_own_password): a
            # session left open on a shared desk must not be enough to take the account over.
            raise InvalidInput("user.password_own_needs_current", field="password")
        _check_password(password)
        user.password_hash = hash_password(password)
        changes["password"] = "changed"
        # A new password ends every session (someone else may hold an old one).
        session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    if was_active_owner and (user.role != Role.OWNER.value or not user.active):
        remaining = (
            session.scalar(
                select(func.count())
                .select_from(User)
                .where(
                    User.tenant_id == actor.tenant_id,
                    User.role == Role.OWNER.value,
                    User.active.is_(True),
                    User.id != user.id,
                )
            )
            or 0
        )
        if remaining == 0:
            raise InvalidInput("user.last_owner", field="role" if role is not None else "active")
    audit(session, actor, "user.update", "user", user.id, changes)
    session.flush()
    return user


def update_profile(session: Session, actor: Actor, *, name: str | None = None, language: str | None = None) -> User:
    """The signed-in user's own name and language (the desktop's language follows it)."""
    if actor.user_id is None:
        raise Forbidden("user.profile_needs_user")
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("user.name_required", field="name")
    return update_user(session, actor, actor.user_id, name=name, language=language)


def change_own_password(
    session: Session, actor: Actor, *, current_password: str, new_password: str, keep_login_session: str | None = None
) -> User:
    """Checks the current password (wrong guesses are rate limited like logins, so an open
    session cannot be used to guess it); ends every other session (the one in use stays when given)."""
    if actor.user_id is None:
        raise Forbidden("user.profile_needs_user")
    user = get_owned(session, User, actor.tenant_id, actor.user_id)
    now, key = datetime.now(UTC), f"password:{user.id}"
    window = failure_limits.PASSWORD_CHANGE_WINDOW
    failure_limits.enforce(session, [(key, failure_limits.PASSWORD_CHANGE_FAILURES)], window, now)
    if not verify_password(user.password_hash, current_password):
        failure_limits.record_failures(session, [key], now, window)
        raise InvalidInput("user.password_current_wrong", field="current_password")
    if new_password == current_password:
        raise InvalidInput("user.password_unchanged", field="new_password")
    try:
        _check_password(new_password)
    except InvalidInput as exc:
        raise InvalidInput(exc.key, field="new_password", **exc.params) from None
    user.password_hash = hash_password(new_password)
    others = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep_login_session:
        others = others.where(LoginSession.token_hash != token_digest(keep_login_session))
    session.execute(others)
    failure_limits.clear(session, key)
    audit(session, actor, "user.password_changed", "user", user.id, {})
    session.flush()
    return user


def list_users(session: Session, actor: Actor) -> list[User]:
    actor.require(Permission.READ)
    return list(session.scalars(select(User).where(User.tenant_id == actor.tenant_id).order_by(User.id)))
