"""Tenants, users, teams, API tokens, login sessions and login rate limiting."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import phonenumbers
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission, Role, can_grant
from raccordo.accounts.models import ApiToken, LoginAttempt, LoginSession, Team, TeamMember, Tenant, User
from raccordo.accounts.services.passwords import hash_password, needs_rehash, verify_password
from raccordo.platform.errors import Conflict, Forbidden, InvalidInput, TooManyRequests, Unauthorized
from raccordo.platform.hours import is_timezone
from raccordo.platform.i18n import LANGUAGES
from raccordo.record.domain.identities import normalize_email
from raccordo.record.services.records import audit, get_owned

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
MIN_PASSWORD = 10


def token_digest(token: str) -> str:
    # Tokens are 256-bit random values, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(token.encode()).hexdigest()


def create_tenant(session: Session, slug: str, name: str, *, region: str = "IT", language: str = "it") -> Tenant:
    if not _SLUG.match(slug):
        raise InvalidInput("tenant.slug_invalid", field="slug", value=slug)
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict("tenant.slug_taken", field="slug", value=slug)
    tenant = Tenant(
        slug=slug,
        name=name,
        default_region=region,
        default_language=language,
        settings={"continuity": {"across_channels": True, "reopen_window_hours": 168}},
    )
    session.add(tenant)
    session.flush()
    return tenant


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


PASSWORD_CHANGE_FAILURES = 5
PASSWORD_CHANGE_WINDOW = timedelta(minutes=15)


def change_own_password(
    session: Session, actor: Actor, *, current_password: str, new_password: str, keep_login_session: str | None = None
) -> User:
    """Checks the current password (wrong guesses are rate limited like logins, so an open
    session cannot be used to guess it); ends every other session (the one in use stays when given)."""
    if actor.user_id is None:
        raise Forbidden("user.profile_needs_user")
    user = get_owned(session, User, actor.tenant_id, actor.user_id)
    now, key = datetime.now(UTC), f"password:{user.id}"
    _enforce_rate_limit(session, [(key, PASSWORD_CHANGE_FAILURES)], PASSWORD_CHANGE_WINDOW, now)
    if not verify_password(user.password_hash, current_password):
        _record_failures(session, [key], now, PASSWORD_CHANGE_WINDOW)
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
    session.execute(delete(LoginAttempt).where(LoginAttempt.key == key))
    audit(session, actor, "user.password_changed", "user", user.id, {})
    session.flush()
    return user


def list_users(session: Session, actor: Actor) -> list[User]:
    actor.require(Permission.READ)
    return list(session.scalars(select(User).where(User.tenant_id == actor.tenant_id).order_by(User.id)))


# --- login -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    user: User
    expires_at: datetime


def _enforce_rate_limit(session: Session, keys: list[tuple[str, int]], window: timedelta, now: datetime) -> None:
    since = now - window
    for key, allowed in keys:
        failures = (
            session.scalar(
                select(func.count())
                .select_from(LoginAttempt)
                .where(LoginAttempt.key == key, LoginAttempt.attempted_at > since)
            )
            or 0
        )
        if failures >= allowed:
            oldest = session.scalar(
                select(func.min(LoginAttempt.attempted_at)).where(
                    LoginAttempt.key == key, LoginAttempt.attempted_at > since
                )
            )
            retry = int(((oldest or now) + window - now).total_seconds()) + 1
            raise TooManyRequests("login.rate_limited", retry_after=max(1, retry))


def _failure_keys(tenant_slug: str, email: str, address: str) -> tuple[str, str]:
    """The counters of one account (organization + email): from every address, and from this one.
    The email is digested: the table then holds no address book, and any length fits the column."""
    account = f"acct:{tenant_slug}:{hashlib.sha256(email.encode()).hexdigest()[:32]}"
    return account, f"{account}|addr:{address}"


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
    keys = [_failure_keys(slug, email, address) for _, slug in candidates] or [
        _failure_keys(tenant_slug or "-", email, address)
    ]
    limits = (
        [(address_key, max_failures * 4)]
        + [(here, max_failures) for _, here in keys]
        + [(everywhere, account_max_failures) for everywhere, _ in keys]
    )
    _enforce_rate_limit(session, limits, window, now)
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
        _record_failures(session, [address_key, *(key for pair in keys for key in pair)], now, window)
        raise Unauthorized("login.failed")
    if len(matched) > 1:
        # This password opens the email's account in several organizations: only now, to someone
        # who knows it, is there anything to ask.
        raise InvalidInput("login.tenant_required", field="tenant")
    user, (_, here) = matched[0]
    session.execute(delete(LoginAttempt).where(LoginAttempt.key == here))
    if needs_rehash(user.password_hash):  # type: ignore[arg-type]
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


def _record_failures(session: Session, keys: list[str], now: datetime, window: timedelta) -> None:
    """Counts a failure under each key, committed at once (the caller raises, and the failure must
    count anyway); rows older than every window are dropped, so the table stays small."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - max(window, PASSWORD_CHANGE_WINDOW)))
    session.add_all(LoginAttempt(key=key, attempted_at=now) for key in keys)
    session.commit()


def session_user(session: Session, token: str) -> tuple[User, LoginSession] | None:
    row = session.scalars(select(LoginSession).where(LoginSession.token_hash == token_digest(token))).one_or_none()
    if row is None or row.expires_at <= datetime.now(UTC):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user, row


def logout(session: Session, token: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == token_digest(token)))


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


# --- teams -----------------------------------------------------------------------------------


def _team_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("team.name_required", field="name")
    return name


def create_team(
    session: Session, actor: Actor, name: str, description: str = "", member_ids: list[int] | None = None
) -> Team:
    actor.require(Permission.MANAGE_TEAMS)
    name = _team_name(name)
    if session.scalar(select(Team.id).where(Team.tenant_id == actor.tenant_id, Team.name == name)) is not None:
        raise Conflict("team.name_taken", field="name", value=name)
    team = Team(tenant_id=actor.tenant_id, name=name, description=description)
    session.add(team)
    session.flush()
    if member_ids:
        set_team_members(session, actor, team.id, member_ids)
    audit(session, actor, "team.create", "team", team.id, {"name": name})
    return team


def user_team_ids(session: Session, tenant_id: int, user_id: int | None) -> list[int]:
    """The teams a user belongs to (none for an integration acting without a user)."""
    if user_id is None:
        return []
    return list(
        session.scalars(
            select(TeamMember.team_id)
            .join(Team, Team.id == TeamMember.team_id)
            .where(Team.tenant_id == tenant_id, TeamMember.user_id == user_id)
        )
    )


def set_team_members(session: Session, actor: Actor, team_id: int, user_ids: list[int]) -> Team:
    actor.require(Permission.MANAGE_TEAMS)
    team = get_owned(session, Team, actor.tenant_id, team_id)
    for user_id in set(user_ids):
        get_owned(session, User, actor.tenant_id, user_id)
    session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    session.add_all(TeamMember(team_id=team.id, user_id=user_id) for user_id in sorted(set(user_ids)))
    session.flush()
    session.refresh(team)
    audit(session, actor, "team.members", "team", team.id, {"user_ids": sorted(set(user_ids))})
    return team


def update_team(session: Session, actor: Actor, team_id: int, *, name: str | None, description: str | None) -> Team:
    actor.require(Permission.MANAGE_TEAMS)
    team = get_owned(session, Team, actor.tenant_id, team_id)
    name = _team_name(name) if name is not None else None
    if name is not None and name != team.name:
        if session.scalar(select(Team.id).where(Team.tenant_id == actor.tenant_id, Team.name == name)) is not None:
            raise Conflict("team.name_taken", field="name", value=name)
        team.name = name
    if description is not None:
        team.description = description
    audit(session, actor, "team.update", "team", team.id, {"name": team.name})
    return team


def delete_team(session: Session, actor: Actor, team_id: int) -> None:
    actor.require(Permission.MANAGE_TEAMS)
    team = get_owned(session, Team, actor.tenant_id, team_id)
    audit(session, actor, "team.delete", "team", team.id, {"name": team.name})
    session.delete(team)


# --- tenant settings -------------------------------------------------------------------------


def update_tenant(
    session: Session,
    actor: Actor,
    *,
    name: str | None = None,
    default_region: str | None = None,
    default_language: str | None = None,
    continuity_across_channels: bool | None = None,
    reopen_window_hours: float | None = None,
    timezone: str | None = None,
) -> Tenant:
    """Organization settings, including the conversation continuity rule."""
    actor.require(Permission.MANAGE_INBOXES)
    tenant = session.get_one(Tenant, actor.tenant_id)
    changes: dict[str, object] = {}
    if name is not None:
        tenant.name = changes["name"] = name
    if default_region is not None:
        region = default_region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput("tenant.region_unknown", field="default_region", value=default_region)
        tenant.default_region = changes["default_region"] = region
    if default_language is not None:
        if default_language not in LANGUAGES:
            raise InvalidInput("user.language_unknown", field="default_language", value=default_language)
        tenant.default_language = changes["default_language"] = default_language
    continuity = dict((tenant.settings or {}).get("continuity", {}))
    if continuity_across_channels is not None:
        continuity["across_channels"] = changes["continuity_across_channels"] = continuity_across_channels
    if reopen_window_hours is not None:
        if reopen_window_hours < 0:
            raise InvalidInput("tenant.reopen_window_negative", field="reopen_window_hours")
        continuity["reopen_window_hours"] = changes["reopen_window_hours"] = reopen_window_hours
    settings = {**(tenant.settings or {}), "continuity": continuity}
    if timezone is not None:
        if not is_timezone(timezone):
            raise InvalidInput("tenant.timezone_unknown", field="timezone", value=timezone)
        settings["timezone"] = changes["timezone"] = timezone
    tenant.settings = settings
    audit(session, actor, "tenant.update", "tenant", tenant.id, changes)
    session.flush()
    return tenant
