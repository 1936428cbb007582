"""The signed-in user's own profile (every role): name and desktop language, and a password
change that needs the current password, is rate limited, and ends the other sessions."""

from __future__ import annotations

import re

from tests.support.pages import login


def _csrf(page: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_an_agent_switches_the_desktop_to_italian_and_back(org, fresh):
    browser = fresh()
    csrf = login(browser, org, "agent")
    page = browser.get("/me")
    assert page.status_code == 200 and '<html lang="en">' in page.text and 'id="f-language"' in page.text
    assert 'href="/me"' in browser.get("/inbox").text, "the name in the top bar leads to the profile"
    saved = browser.post("/me", data={"csrf_token": csrf, "name": "Agata Agente", "language": "it"})
    assert saved.status_code == 303 and saved.headers["location"] == "/me?saved=profile"
    inbox = browser.get("/inbox")
    assert '<html lang="it">' in inbox.text and "Agata Agente" in inbox.text and ">Conversazioni</a>" in inbox.text
    # Errors are explained next to the field, in the user's (new) language.
    bad = browser.post("/me", data={"csrf_token": csrf, "name": " ", "language": "fr"})
    assert bad.status_code == 422 and 'id="name-error"' in bad.text and "Inserisci un nome" in bad.text
    bad = browser.post("/me", data={"csrf_token": csrf, "name": "Agata", "language": "fr"})
    assert bad.status_code == 422 and 'id="language-error"' in bad.text
    # No CSRF token, no change.
    assert browser.post("/me", data={"name": "Mallory", "language": "en"}).status_code == 403
    browser.post("/me", data={"csrf_token": csrf, "name": "Agata Agente", "language": "en"})
    assert '<html lang="en">' in browser.get("/me").text


def test_profile_api_changes_only_name_and_language(org, client):
    changed = client.patch(
        "/api/v1/auth/me", json={"language": "it", "name": "Sara Supervisora"}, headers=org.headers("supervisor")
    )
    assert (
        changed.status_code == 200
        and changed.json()["language"] == "it"
        and changed.json()["name"] == "Sara Supervisora"
    )
    assert changed.json()["role"] == "supervisor"
    # Role or active cannot be slipped in: the schema is strict.
    escalate = client.patch("/api/v1/auth/me", json={"role": "owner"}, headers=org.headers("agent"))
    assert escalate.status_code == 422 and escalate.json()["errors"][0]["field"] == "role"
    assert client.get(f"/api/v1/users/{org.users['agent']}", headers=org.headers("owner")).json()["role"] == "agent"


def test_password_change_needs_the_current_one_keeps_this_session_and_ends_the_others(org, fresh):
    desk, other = fresh(), fresh()
    csrf = login(desk, org, "agent")
    login(other, org, "agent")
    wrong = desk.post(
        "/me/password",
        data={"csrf_token": csrf, "current_password": "not it at all", "new_password": "a fresh new passphrase"},
    )
    assert wrong.status_code == 422 and 'id="current_password-error"' in wrong.text
    short = desk.post(
        "/me/password", data={"csrf_token": csrf, "current_password": org.password, "new_password": "short"}
    )
    assert short.status_code == 422 and 'id="new_password-error"' in short.text
    same = desk.post(
        "/me/password", data={"csrf_token": csrf, "current_password": org.password, "new_password": org.password}
    )
    assert same.status_code == 422 and 'id="new_password-error"' in same.text
    changed = desk.post(
        "/me/password",
        data={"csrf_token": csrf, "current_password": org.password, "new_password": "a fresh new passphrase"},
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/me?saved=password"
    assert desk.get("/me").status_code == 200, "the session that changed it stays signed in"
    assert other.get("/me").status_code == 303, "every other session is signed out"
    login_page = fresh()
    token = re.search(r'name="login_csrf" value="([^"]+)"', login_page.get("/login").text).group(1)
    old = login_page.post(
        "/login", data={"email": org.email("agent"), "password": org.password, "login_csrf": token, "next": "/inbox"}
    )
    assert old.status_code != 303, "the old password no longer works"


def test_guessing_the_current_password_is_rate_limited(org, client):
    headers = org.headers("admin")
    answers = [
        client.post(
            "/api/v1/auth/password",
            json={"current_password": f"guess number {i}", "new_password": "another passphrase"},
            headers=headers,
        )
        for i in range(6)
    ]
    assert [a.status_code for a in answers[:5]] == [422] * 5
    assert answers[5].status_code == 429
    right = client.post(
        "/api/v1/auth/password",
        json={"current_password": org.password, "new_password": "another passphrase"},
        headers=headers,
    )
    assert right.status_code == 429, "even the right password waits for the window to pass"


def test_the_desktop_shows_times_in_the_organizations_timezone(org, client, fresh):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from raccordo.platform.web.templating import environment

    assert client.get("/api/v1/tenant", headers=org.headers()).json()["timezone"] == "Europe/Rome"
    wrong = client.patch("/api/v1/tenant", json={"timezone": "Mars/Olympus"}, headers=org.headers("admin"))
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "timezone"
    assert (
        client.patch("/api/v1/tenant", json={"timezone": "America/New_York"}, headers=org.headers("agent")).status_code
        == 403
    )
    changed = client.patch("/api/v1/tenant", json={"timezone": "America/New_York"}, headers=org.headers("admin"))
    assert changed.status_code == 200 and changed.json()["timezone"] == "America/New_York"
    # The filter every page uses: 2026-01-15 23:30 UTC is 18:30 in New York, 00:30 of the 16th in Rome.
    when = environment.from_string("{{ value | when(lang) }}")
    moment = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    assert when.render(value=moment, lang="en", zone=ZoneInfo("America/New_York")) == "2026-01-15 18:30"
    assert when.render(value=moment, lang="it", zone=ZoneInfo("Europe/Rome")) == "16/01/2026 00:30"
    # And the pages get the organization's zone.
    browser = fresh()
    login(browser, org, "agent")
    page = browser.get("/agenda")
    assert page.status_code == 200 and "America/New_York" in page.text
