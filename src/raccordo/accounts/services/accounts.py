"""The accounts use cases under the one name other packages have called them by
(``accounts.create_user``, ``accounts.user_team_ids``, ...). Each lives in the module of its
responsibility: ``tenants``, ``users``, ``teams``, ``tokens``, ``login_sessions`` (with the failure
counters in ``failure_limits``); code in ``accounts`` imports those modules, and so should new code."""

from __future__ import annotations

from raccordo.accounts.services.failure_limits import PASSWORD_CHANGE_FAILURES, PASSWORD_CHANGE_WINDOW
from raccordo.accounts.services.login_sessions import NewSession, login, logout, session_user
from raccordo.accounts.services.teams import create_team, delete_team, set_team_members, update_team, user_team_ids
from raccordo.accounts.services.tenants import create_tenant, update_tenant
from raccordo.accounts.services.tokens import create_token, list_tokens, revoke_token, token_digest, token_user
from raccordo.accounts.services.users import (
    MIN_PASSWORD,
    change_own_password,
    create_user,
    list_users,
    update_profile,
    update_user,
)

__all__ = [
    "MIN_PASSWORD",
    "PASSWORD_CHANGE_FAILURES",
    "PASSWORD_CHANGE_WINDOW",
    "NewSession",
    "change_own_password",
    "create_team",
    "create_tenant",
    "create_token",
    "create_user",
    "delete_team",
    "list_tokens",
    "list_users",
    "login",
    "logout",
    "revoke_token",
    "session_user",
    "set_team_members",
    "token_digest",
    "token_user",
    "update_profile",
    "update_team",
    "update_tenant",
    "update_user",
    "user_team_ids",
]
