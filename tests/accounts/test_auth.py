"""Authentication: session cookie + CSRF, logout, login rate limiting, Bearer tokens, hashing at rest.

Cookie tests use their own TestClient (the shared `client` fixture keeps cookies for the whole
session) with its own client address, so the per-address login limit of one test never locks
out another.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import select, text
from starlette.testclient import TestClient

from raccordo.accounts.models import LoginSession, User
from raccordo.accounts.services import tokens
from raccordo.bootstrap.http import create_app
from raccordo.platform.store.db import unit_of_work
from tests.support.logins import add_agent, fail_logins
from tests.support.orgs import post_user

PROBLEM = "application/problem+json"
SESSION = "raccordo_session"
CSRF = "raccordo_csrf"


@contextmanager
def fresh_client(rt, address: str | None = None) -> Iterator[TestClient]:
    """A client with its own cookie jar and its own client address."""
    host = address or f"test-{uuid.uuid4().hex[:12]}"
    with TestClient(
        create_app(rt, run_delivery=False), client=(host, 50000), raise_server_exceptions=False
    ) as test_client:
        yield test_client


def login(c: TestClient, email: str, password: str = "correct horse battery", **extra):
    return c.post("/api/v1/auth/login", json={"email": email, "password": password, **extra})


def attempts(c: TestClient) -> Callable[[str, str], int]:
    """This client's API logins as their status codes (for ``fail_logins``)."""
    return lambda email, password: login(c, email, password).status_code


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


def _set_cookies(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


# --- session cookie and CSRF -------------------------------------------------------------------


def test_login_sets_httponly_samesite_session_cookie_and_returns_csrf_token(rt, org):
    with fresh_client(rt) as c:
        response = login(c, org.email("agent"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"]["id"] == org.users["agent"] and body["user"]["role"] == "agent"
        assert "password" not in response.text and "argon2" not in response.text
        cookies = _set_cookies(response)
        session_cookie = cookies[SESSION].lower()
        assert "httponly" in session_cookie
        assert "samesite=lax" in session_cookie or "samesite=strict" in session_cookie
        assert "path=/" in session_cookie and "max-age=" in session_cookie
        # The CSRF cookie is readable by the page's script (not HttpOnly) and carries the same token.
        csrf_cookie = cookies[CSRF].lower()
        assert "httponly" not in csrf_cookie and "samesite=strict" in csrf_cookie
        assert c.cookies.get(CSRF) == body["csrf_token"]
        assert c.cookies.get(SESSION) and c.cookies.get(SESSION) != body["csrf_token"]
        # The cookie alone authenticates reads.
        me = c.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["user"]["id"] == org.users["agent"]


def test_cookie_authenticated_writes_need_the_csrf_token(rt, org):
    with fresh_client(rt) as c:
        csrf = login(c, org.email("agent")).json()["csrf_token"]
        me_url = f"/api/v1/users/{org.users['agent']}"

        # GET works without the header.
        assert c.get("/api/v1/tokens").status_code == 200
        assert c.get(me_url).status_code == 200

        # POST without it, or with a wrong one: 403 and nothing created.
        for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}):
            refused = c.post("/api/v1/tokens", json={"name": "from cookie"}, headers=headers)
            detail = _problem(refused, 403)["detail"]
            assert "X-CSRF-Token" in detail
        assert "from cookie" not in [t["name"] for t in c.get("/api/v1/tokens").json()]
        created = c.post("/api/v1/tokens", json={"name": "from cookie"}, headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201, created.text

        # PATCH likewise.
        _problem(c.patch(me_url, json={"name": "Changed Without Token"}), 403)
        assert c.get(me_url).json()["name"] == "Agent User"
        patched = c.patch(me_url, json={"name": "Changed With Token"}, headers={"X-CSRF-Token": csrf})
        assert patched.status_code == 200 and patched.json()["name"] == "Changed With Token"

        # DELETE likewise.
        token_id = created.json()["id"]
        _problem(c.delete(f"/api/v1/tokens/{token_id}"), 403)
        assert {t["id"]: t for t in c.get("/api/v1/tokens").json()}[token_id]["revoked_at"] is None
        assert c.delete(f"/api/v1/tokens/{token_id}", headers={"X-CSRF-Token": csrf}).status_code == 204


def test_csrf_token_of_another_session_is_refused(rt, org):
    with fresh_client(rt) as first, fresh_client(rt) as second:
        login(first, org.email("agent"))
        other_csrf = login(second, org.email("agent")).json()["csrf_token"]
        _problem(first.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": other_csrf}), 403)
        assert "x" not in [t["name"] for t in first.get("/api/v1/tokens").json()]


def test_bearer_writes_need_no_csrf_token(rt, org):
    with fresh_client(rt) as c:
        created = c.post("/api/v1/tokens", json={"name": "integration"}, headers=org.headers("agent"))
        assert created.status_code == 201, created.text


def test_logout_invalidates_the_session(rt, org):
    with fresh_client(rt) as c:
        csrf = login(c, org.email("supervisor")).json()["csrf_token"]
        session_value = c.cookies.get(SESSION)
        assert c.get("/api/v1/auth/me").status_code == 200
        # Logging out is a write: it needs the CSRF token too.
        _problem(c.post("/api/v1/auth/logout"), 403)
        assert c.get("/api/v1/auth/me").status_code == 200
        out = c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        assert SESSION in _set_cookies(out)  # the cookie is cleared
        body = _problem(c.get("/api/v1/auth/me"), 401)
        assert body["title"] == "Authentication required"
    # The old cookie value, replayed, is dead on the server too.
    with fresh_client(rt) as replay:
        replay.cookies.set(SESSION, session_value)
        detail = _problem(replay.get("/api/v1/auth/me"), 401)["detail"]
        assert "log in again" in detail


def test_expired_session_is_401(rt, org):
    with fresh_client(rt) as c:
        login(c, org.email("agent"))
        assert c.get("/api/v1/auth/me").status_code == 200
        with unit_of_work(rt.sessions) as session:
            row = session.scalars(
                select(LoginSession).where(LoginSession.token_hash == tokens.token_digest(c.cookies.get(SESSION)))
            ).one()
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        body = _problem(c.get("/api/v1/auth/me"), 401)
        assert "expired" in body["detail"]


def test_session_and_csrf_tokens_are_not_stored_in_clear(rt, org):
    with fresh_client(rt) as c:
        login(c, org.email("agent"))
        plain = c.cookies.get(SESSION)
        with unit_of_work(rt.sessions) as session:
            rows = (
                session.execute(text("SELECT * FROM login_sessions WHERE user_id = :u"), {"u": org.users["agent"]})
                .mappings()
                .all()
            )
        assert rows
        assert all(plain not in str(value) for row in rows for value in row.values())


# --- wrong passwords and rate limiting ---------------------------------------------------------


def test_wrong_password_and_unknown_email_get_the_same_401(rt, org):
    with fresh_client(rt) as c:
        wrong = _problem(login(c, org.email("agent"), "not the password"), 401)
        unknown = _problem(login(c, f"nobody-{uuid.uuid4().hex[:6]}@example.com", "whatever it is"), 401)
        assert wrong["detail"] == unknown["detail"] == "Wrong email or password."
        assert SESSION not in _set_cookies(login(c, org.email("agent"), "still not it"))
        # The right password still works after fewer failures than the limit.
        assert login(c, org.email("agent")).status_code == 200


def test_login_is_rate_limited_per_email(rt, org):
    allowed = rt.settings.login_max_failures
    with fresh_client(rt) as c:
        fail_logins(attempts(c), allowed, org.email("admin"))
        # Locked: even the right password is refused, with a Retry-After that a client can use.
        locked = login(c, org.email("admin"))
        body = _problem(locked, 429)
        retry_after = int(locked.headers["Retry-After"])
        assert 0 < retry_after <= rt.settings.login_window_seconds + 1
        assert str(retry_after) in body["detail"]
        assert SESSION not in _set_cookies(locked)
        # The lock is on this account from this address: the right password from another address
        # logs in (an attacker's guesses do not lock the owner out; tests/accounts/test_login_limits.py),
        # and other users from this address still log in.
        with fresh_client(rt) as elsewhere:
            assert login(elsewhere, org.email("admin")).status_code == 200
        assert login(c, org.email("agent")).status_code == 200
        # Italian clients read it in Italian.
        italian = c.post(
            "/api/v1/auth/login",
            json={"email": org.email("admin"), "password": org.password},
            headers={"Accept-Language": "it-IT,it;q=0.9"},
        )
        assert italian.status_code == 429 and italian.json()["detail"].startswith("Troppi accessi falliti")
    # The lock is on this email only: existing tokens keep working.
    with fresh_client(rt) as c:
        assert c.get("/api/v1/auth/me", headers=org.headers("admin")).status_code == 200


def test_a_successful_login_clears_the_email_failures(rt, org):
    allowed = rt.settings.login_max_failures
    with fresh_client(rt) as c:
        fail_logins(attempts(c), allowed - 1, org.email("supervisor"))
        assert login(c, org.email("supervisor")).status_code == 200
        fail_logins(attempts(c), allowed - 1, org.email("supervisor"))
        assert login(c, org.email("supervisor")).status_code == 200


def test_login_is_rate_limited_per_client_address(rt, org):
    per_address = rt.settings.login_max_failures * 4
    with fresh_client(rt) as c:
        # A different email each time, so only the address limit can trigger.
        fail_logins(attempts(c), per_address)
        blocked = login(c, org.email("owner"))
        _problem(blocked, 429)
        assert int(blocked.headers["Retry-After"]) > 0
    # The same user from another address is fine.
    with fresh_client(rt) as other:
        assert login(other, org.email("owner")).status_code == 200


def test_login_needs_the_organization_when_the_password_opens_several(rt, org, other_org):
    email = f"shared-{uuid.uuid4().hex[:6]}@example.com"
    for o in (org, other_org):
        add_agent(rt, o.tenant_id, email, "one password for both")
    with fresh_client(rt) as c:
        body = _problem(login(c, email, "one password for both"), 422)
        assert body["errors"][0]["field"] == "tenant"
        ok = login(c, email, "one password for both", tenant=other_org.slug)
        assert ok.status_code == 200
        assert c.get("/api/v1/auth/me").json()["tenant"]["slug"] == other_org.slug
        # One organization's password does not open the other's account.
        _problem(login(c, email, "not the password", tenant=other_org.slug), 401)


def test_login_with_an_email_in_several_organizations_opens_the_one_the_password_matches(rt, org, other_org):
    email = f"shared-{uuid.uuid4().hex[:6]}@example.com"
    for o in (org, other_org):
        add_agent(rt, o.tenant_id, email, f"password of {o.slug}")
    with fresh_client(rt) as c:
        assert login(c, email, f"password of {org.slug}").status_code == 200
        assert c.get("/api/v1/auth/me").json()["tenant"]["slug"] == org.slug
        # One organization's password does not open the other's account.
        _problem(login(c, email, f"password of {org.slug}", tenant=other_org.slug), 401)


# --- Bearer tokens -----------------------------------------------------------------------------


def test_bearer_token_authenticates_as_its_user(rt, org):
    with fresh_client(rt) as c:
        for role in ("owner", "agent"):
            me = c.get("/api/v1/auth/me", headers=org.headers(role))
            assert me.status_code == 200 and me.json()["user"]["id"] == org.users[role]
        assert (
            "Bearer"
            in _problem(c.get("/api/v1/auth/me", headers={"Authorization": f"Basic {org.tokens['agent']}"}), 401)[
                "detail"
            ]
        )
        _problem(c.get("/api/v1/auth/me", headers={"Authorization": "Bearer "}), 401)
        _problem(c.get("/api/v1/auth/me", headers={"Authorization": "Bearer rac_not-a-real-token"}), 401)
        _problem(c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {org.tokens['agent']}x"}), 401)
        assert "Log in first" in _problem(c.get("/api/v1/auth/me"), 401)["detail"]


def test_revoked_token_gets_401(rt, org):
    with fresh_client(rt) as c:
        created = c.post("/api/v1/tokens", json={"name": "short lived"}, headers=org.headers("agent")).json()
        bearer = {"Authorization": f"Bearer {created['token']}"}
        assert c.get("/api/v1/auth/me", headers=bearer).status_code == 200
        assert c.delete(f"/api/v1/tokens/{created['id']}", headers=bearer).status_code == 204
        body = _problem(c.get("/api/v1/auth/me", headers=bearer), 401)
        assert "revoked" in body["detail"]
        listed = {t["id"]: t for t in c.get("/api/v1/tokens", headers=org.headers("agent")).json()}
        assert listed[created["id"]]["revoked_at"] is not None
        # Other tokens of the same user are unaffected.
        assert c.get("/api/v1/auth/me", headers=org.headers("agent")).status_code == 200


def test_tokens_are_stored_hashed(rt, org):
    with fresh_client(rt) as c:
        created = c.post("/api/v1/tokens", json={"name": "hashed"}, headers=org.headers("owner")).json()
    plain = created["token"]
    assert len(plain) >= 40
    with unit_of_work(rt.sessions) as session:
        row = session.execute(text("SELECT * FROM api_tokens WHERE id = :id"), {"id": created["id"]}).mappings().one()
        everything = session.execute(text("SELECT * FROM api_tokens")).mappings().all()
    assert all(plain not in str(value) for r in everything for value in r.values()), (
        "a plain API token is in the database"
    )
    assert row["token_hash"] != plain and row["token_hash"] == hashlib.sha256(plain.encode()).hexdigest()
    assert plain.startswith(row["prefix"]) and len(row["prefix"]) < len(plain) // 2


def test_passwords_are_argon2_hashes(rt, org, client):
    with unit_of_work(rt.sessions) as session:
        stored = session.scalars(select(User.password_hash).where(User.id == org.users["owner"])).one()
    assert stored.startswith("$argon2id$") and org.password not in stored
    assert PasswordHasher().verify(stored, org.password)
    # A changed password is hashed too, and the old one stops working.
    new_password = "a brand new passphrase"
    own = client.patch(
        f"/api/v1/users/{org.users['owner']}", json={"password": new_password}, headers=org.headers("owner")
    )
    assert _problem(own, 422)["errors"][0]["field"] == "password", "one's own password needs the current one"
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": org.password, "new_password": new_password},
        headers=org.headers("owner"),
    )
    assert changed.status_code == 204, changed.text
    with unit_of_work(rt.sessions) as session:
        updated = session.scalars(select(User.password_hash).where(User.id == org.users["owner"])).one()
    assert updated.startswith("$argon2id$") and updated != stored and new_password not in updated
    with fresh_client(rt) as c:
        assert login(c, org.email("owner"), org.password).status_code == 401
        assert login(c, org.email("owner"), new_password).status_code == 200
    # Too short a password is refused with the field named.
    short = client.patch(
        f"/api/v1/users/{org.users['agent']}", json={"password": "short"}, headers=org.headers("owner")
    )
    assert _problem(short, 422)["errors"][0]["field"] == "password"


def test_deactivated_user_loses_tokens_sessions_and_login(rt, org, client):
    agent = org.users["agent"]
    with fresh_client(rt) as c:
        login(c, org.email("agent"))
        assert c.get("/api/v1/auth/me").status_code == 200
        off = client.patch(f"/api/v1/users/{agent}", json={"active": False}, headers=org.headers("admin"))
        assert off.status_code == 200 and off.json()["active"] is False
        _problem(client.get("/api/v1/auth/me", headers=org.headers("agent")), 401)
        _problem(client.get("/api/v1/conversations", headers=org.headers("agent")), 401)
        _problem(c.get("/api/v1/auth/me"), 401)
        _problem(login(c, org.email("agent")), 401)
        # Reactivated, the token works again; the closed session stays closed.
        assert (
            client.patch(f"/api/v1/users/{agent}", json={"active": True}, headers=org.headers("admin")).status_code
            == 200
        )
        assert client.get("/api/v1/auth/me", headers=org.headers("agent")).status_code == 200
        _problem(c.get("/api/v1/auth/me"), 401)
    # Nobody can deactivate themselves.
    selfie = client.patch(f"/api/v1/users/{org.users['admin']}", json={"active": False}, headers=org.headers("admin"))
    assert _problem(selfie, 422)["errors"][0]["field"] == "active"


def test_login_accepts_the_email_as_the_user_writes_it(rt, org, client):
    """Bug: users are stored with the normalized email (IDNA domain) but login compares the raw text,
    so a user whose address has an accented domain cannot log in with the address they know."""
    local = f"lucia-{uuid.uuid4().hex[:6]}"
    created = post_user(
        client, org.headers("admin"), f"{local.title()}@Perché.it", "Lucia", "agent", "una password lunga"
    )
    assert created.status_code == 201, created.text
    assert created.json()["email"] == f"{local}@xn--perch-fsa.it"
    with fresh_client(rt) as c:
        assert login(c, f"{local.upper()}@XN--PERCH-FSA.IT", "una password lunga").status_code == 200
        assert login(c, f" {local}@perché.it ", "una password lunga").status_code == 200
