"""One session and CSRF check for the API and the pages (``accounts.services.authentication``; the
pages read it into ``Me``): the same session cookie is refused the same way on both paths when the
CSRF token is missing or forged, and when the session has ended."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from raccordo.accounts.api import deps
from raccordo.accounts.models import LoginSession
from raccordo.accounts.services import authentication, tokens
from raccordo.platform.errors import Forbidden, Unauthorized
from raccordo.platform.store.db import unit_of_work

FORGED = ["", "not-the-token", "tökén-non-ascii"]


@pytest.fixture
def logged_in(client, org) -> tuple[TestClient, str]:
    """A browser logged in as the agent (API login: the pages share its session). Not named
    ``browser``: that name marks a Chromium test, which ``-m "not browser"`` leaves out."""
    c = TestClient(
        client.app,
        client=(f"auth-{uuid.uuid4().hex[:12]}", 50000),
        raise_server_exceptions=False,
        follow_redirects=False,
    )
    response = c.post("/api/v1/auth/login", json={"email": org.email("agent"), "password": org.password})
    assert response.status_code == 200, response.text
    return c, response.json()["csrf_token"]


def _api_post(c: TestClient, csrf: str | None):
    return c.post(
        "/api/v1/tokens",
        json={"name": "from the browser"},
        headers={"X-CSRF-Token": csrf.encode()} if csrf is not None else {},
    )


def _page_post(c: TestClient, csrf: str | None, *, as_field: bool = False):
    data = {"status": "away", "reason": "lunch"}
    if csrf is not None and as_field:
        return c.post("/presence", data={**data, "csrf_token": csrf})
    return c.post("/presence", data=data, headers={"X-CSRF-Token": csrf.encode()} if csrf is not None else {})


@pytest.mark.parametrize("forged", [None, *FORGED])
def test_both_paths_refuse_a_missing_or_forged_csrf_token(logged_in, forged):
    c, _ = logged_in
    api = _api_post(c, forged)
    assert api.status_code == 403 and "CSRF token" in api.json()["detail"], api.text
    page = _page_post(c, forged)
    assert (
        page.status_code == 403
        and "security token" in page.text
        and page.headers["content-type"].startswith("text/html")
    )
    if forged is not None:
        field = _page_post(c, forged, as_field=True)
        assert field.status_code == 403 and "security token" in field.text


def test_both_paths_accept_the_sessions_token(logged_in):
    c, csrf = logged_in
    assert _api_post(c, csrf).status_code == 201
    assert _page_post(c, csrf).status_code in (200, 204, 303)
    assert _page_post(c, csrf, as_field=True).status_code in (200, 204, 303)


def test_another_sessions_token_is_forged(logged_in, client, org):
    c, _ = logged_in
    other = TestClient(client.app, client=(f"auth-{uuid.uuid4().hex[:12]}", 50000), follow_redirects=False)
    other_csrf = other.post("/api/v1/auth/login", json={"email": org.email("agent"), "password": org.password}).json()[
        "csrf_token"
    ]
    assert _api_post(c, other_csrf).status_code == 403
    assert _page_post(c, other_csrf).status_code == 403


def test_both_paths_refuse_an_ended_session(logged_in, rt, org):
    c, csrf = logged_in
    with unit_of_work(rt.sessions) as session:
        session.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == tokens.token_digest(c.cookies.get(deps.SESSION_COOKIE)))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    for response in (c.get("/api/v1/auth/me"), _api_post(c, csrf)):
        assert response.status_code == 401 and "session has expired" in response.json()["detail"], response.text
    for response in (c.get("/inbox"), _page_post(c, csrf)):
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), response.text
    hx = c.post("/presence", data={"status": "away"}, headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert hx.status_code == 204 and hx.headers["HX-Redirect"] == "/login"
    # The login page no longer sends this browser on: it shows the form.
    assert c.get("/login").status_code == 200


def test_both_paths_refuse_a_missing_session(client):
    c = TestClient(
        client.app,
        client=(f"auth-{uuid.uuid4().hex[:12]}", 50000),
        raise_server_exceptions=False,
        follow_redirects=False,
    )
    assert "Log in first" in c.get("/api/v1/auth/me").json()["detail"]
    assert c.get("/inbox").headers["location"].startswith("/login?next=")


def test_pages_take_the_session_cookie_not_a_bearer_token(client, org):
    """A page is for a browser: an API token in the Authorization header does not log a page in."""
    c = TestClient(
        client.app,
        client=(f"auth-{uuid.uuid4().hex[:12]}", 50000),
        raise_server_exceptions=False,
        follow_redirects=False,
    )
    assert c.get("/api/v1/auth/me", headers=org.headers("agent")).status_code == 200
    assert c.get("/inbox", headers=org.headers("agent")).status_code == 303


def _credentials(**given) -> authentication.Credentials:
    values = {"authorization": "", "session_token": None, "csrf_sent": "", "changes_state": False}
    return authentication.Credentials(**(values | given), client_address="10.1.2.3")


def test_the_check_is_a_use_case_that_answers_plain_data(logged_in, rt, org):
    """Called without a request: a session cookie gives the login session's id and CSRF token, a
    Bearer token neither; a page takes the session only, and reads the organization with it."""
    c, csrf = logged_in
    cookie = c.cookies.get(deps.SESSION_COOKIE)
    by_cookie = authentication.authenticate(rt.sessions, _credentials(session_token=cookie))
    assert by_cookie.actor.user_id == org.users["agent"] and by_cookie.actor.client_address == "10.1.2.3"
    assert by_cookie.csrf_token == csrf and by_cookie.login_session_id is not None
    assert (by_cookie.name, by_cookie.email) == ("Agent User", org.email("agent"))
    bearer = authentication.authenticate(
        rt.sessions, _credentials(authorization=org.headers("owner")["Authorization"], changes_state=True)
    )
    assert bearer.actor.user_id == org.users["owner"] and (bearer.login_session_id, bearer.csrf_token) == (None, None)
    page = authentication.page_session(
        rt.sessions, _credentials(session_token=cookie, csrf_sent=csrf, changes_state=True)
    )
    assert (page.login_session_id, page.tenant_name) == (by_cookie.login_session_id, f"Org {org.slug}")
    with pytest.raises(Forbidden):
        authentication.page_session(rt.sessions, _credentials(session_token=cookie, changes_state=True))
    with pytest.raises(Unauthorized):
        authentication.authenticate(rt.sessions, _credentials(authorization="Basic abc"))
    with pytest.raises(Unauthorized):  # a page never signs in with a token
        authentication.page_session(rt.sessions, _credentials(authorization=org.headers("owner")["Authorization"]))
