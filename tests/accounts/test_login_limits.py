"""Login limits and what a login answer reveals (issue 11, item 8), through the API and the login
page alike: failures count per organization + email + client address, per address over every
email, and per account over every address; an unknown email is answered and timed like a known
one; the organization is asked for only after a password matched in more than one.

Each client here has its own address (TestClient's ``client``), so one test's failures never
lock another's."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from raccordo.platform.errors import TooManyRequests, Unauthorized
from tests.support.logins import add_agent, fail_logins, log_in_directly

EN = {"Accept-Language": "en"}


@dataclass(frozen=True)
class Answer:
    status: int  # 200 for a login (the page's 303 redirect)
    message: str
    retry_after: str | None


def api_login(c: TestClient, email: str, password: str, tenant: str | None = None) -> Answer:
    response = c.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password, **({"tenant": tenant} if tenant else {})},
        headers=EN,
    )
    message = "" if response.status_code == 200 else response.json()["detail"]
    return Answer(response.status_code, message, response.headers.get("retry-after"))


def page_login(c: TestClient, email: str, password: str, tenant: str | None = None) -> Answer:
    form = c.get("/login", headers=EN)
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    response = c.post(
        "/login", data={"email": email, "password": password, "tenant": tenant or "", "login_csrf": token}, headers=EN
    )
    if response.status_code == 303:
        assert "raccordo_session" in response.headers.get("set-cookie", "")
        return Answer(200, "", None)
    found = re.search(r'id="login-error">([^<]*)<', response.text)
    return Answer(
        response.status_code, html.unescape(found.group(1)) if found else "", response.headers.get("retry-after")
    )


DOORS: dict[str, Callable[..., Answer]] = {"api": api_login, "page": page_login}


def statuses(door: Callable[..., Answer], c: TestClient, **extra: str) -> Callable[[str, str], int]:
    """This browser's logins through ``door`` as their statuses (for ``fail_logins``)."""
    return lambda email, password: door(c, email, password, **extra).status


@pytest.fixture(params=sorted(DOORS))
def door(request: pytest.FixtureRequest) -> Callable[..., Answer]:
    return DOORS[request.param]


@pytest.fixture
def at(client) -> Callable[[], TestClient]:
    """A new browser at a new client address, each time it is called."""

    def make() -> TestClient:
        return TestClient(
            client.app,
            client=(f"addr-{uuid.uuid4().hex[:12]}", 50000),
            raise_server_exceptions=False,
            follow_redirects=False,
        )

    return make


def test_an_attackers_failures_lock_the_attackers_address_not_the_owner(rt, org, at, door):
    limit = rt.settings.login_max_failures
    attacker, owner = at(), at()
    fail_logins(statuses(door, attacker), limit, org.email("owner"))
    locked = door(attacker, org.email("owner"), org.password)
    assert locked.status == 429 and locked.retry_after and int(locked.retry_after) > 0
    # The owner, typing the right password from their own desk, is not locked out by it.
    assert door(owner, org.email("owner"), org.password).status == 200


def test_the_limit_is_per_organization(rt, org, other_org, at, door):
    """The same email in two organizations: guessing one account does not lock the other."""
    email = org.email("owner")
    add_agent(rt, other_org.tenant_id, email, "password of the copy", "Copy")  # tenant B's user with A's owner's email
    browser = at()
    fail_logins(statuses(door, browser, tenant=other_org.slug), rt.settings.login_max_failures, email)
    assert door(browser, email, "password of the copy", tenant=other_org.slug).status == 429
    assert door(browser, email, org.password, tenant=org.slug).status == 200


def test_an_email_in_two_organizations_is_not_revealed_before_a_correct_password(rt, org, other_org, at, door):
    email = org.email("owner")
    add_agent(rt, other_org.tenant_id, email, "password of the copy", "Copy")
    browser = at()
    unknown = door(browser, f"nobody-{uuid.uuid4().hex[:6]}@example.com", "a wrong guess!")
    in_two = door(browser, email, "a wrong guess!")
    in_one = door(browser, org.email("agent"), "a wrong guess!")
    assert unknown == in_two == in_one == Answer(401, "Wrong email or password.", None)
    # The right password of one of them opens that one: nothing to ask.
    assert door(at(), email, org.password).status == 200
    assert door(at(), email, "password of the copy").status == 200


def test_the_organization_is_asked_for_when_the_password_opens_two(rt, org, other_org, at, door):
    email = f"shared-{uuid.uuid4().hex[:6]}@example.com"
    for o in (org, other_org):
        add_agent(rt, o.tenant_id, email, "the same password")
    browser = at()
    asked = door(browser, email, "the same password")
    assert asked.status == 422 and "organization" in asked.message.lower()
    assert door(browser, email, "the same password", tenant=other_org.slug).status == 200


def test_unknown_and_known_emails_are_limited_alike(rt, org, at, door):
    limit = rt.settings.login_max_failures
    answers = {}
    for email in (org.email("agent"), f"nobody-{uuid.uuid4().hex[:6]}@example.com"):
        browser = at()
        failures = {door(browser, email, "a wrong guess!") for _ in range(limit)}
        locked = door(browser, email, org.password)
        answers[email] = (failures, locked.status, re.sub(r"\d+", "N", locked.message), locked.retry_after is not None)
    known, unknown = answers.values()
    assert known == unknown
    assert known[1] == 429


def test_an_address_trying_many_emails_is_limited(rt, org, at, door):
    browser = at()
    fail_logins(statuses(door, browser), rt.settings.login_max_failures * 4)
    assert door(browser, org.email("owner"), org.password).status == 429
    assert door(at(), org.email("owner"), org.password).status == 200


def test_a_distributed_attack_locks_the_account_from_every_address(rt, org):
    """Past the account-wide ceiling (many addresses together) the account refuses everyone until
    the window passes: slower guessing, at the price of a lockout an attacker with many addresses
    can cause (docs/security.md)."""
    email, ceiling = org.email("supervisor"), 6

    for index in range(ceiling):
        with pytest.raises(Unauthorized):
            log_in_directly(rt, email, "a wrong guess!", f"bot-{index % 3}-{org.slug}", ceiling)
    with pytest.raises(TooManyRequests):
        log_in_directly(rt, email, org.password, f"owner-desk-{org.slug}", ceiling)


def test_every_answer_costs_one_argon2_check(rt, org, at, door, monkeypatch):
    """An unknown email, a user without a password, a wrong and a right password: each is one
    Argon2 verification, so the time of the answer does not tell which emails exist."""
    invited_email = f"invited-{uuid.uuid4().hex[:6]}@example.com"
    add_agent(rt, org.tenant_id, invited_email, None, "Invited")
    calls: list[str] = []
    verify = PasswordHasher.verify

    def counting(self: PasswordHasher, stored: str, password: str) -> bool:
        calls.append(password)
        return verify(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    cases = [
        (f"nobody-{uuid.uuid4().hex[:6]}@example.com", "a wrong guess!", 401),
        (invited_email, "a wrong guess!", 401),
        (org.email("agent"), "a wrong guess!", 401),
        (org.email("agent"), org.password, 200),
    ]
    for email, password, status in cases:
        calls.clear()
        assert door(at(), email, password).status == status
        assert len(calls) == 1, (email, calls)
