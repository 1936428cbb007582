"""Admin setup pages over HTTP: inboxes (secrets shown once, the embed snippet, email fields and the check
that names the failing step), users and the roles an admin may grant, teams, and lists without a query per
row. Both database backends."""

from __future__ import annotations

import html as htmllib
import re

from raccordo.accounts.models import Team, User
from raccordo.channels.models import Inbox
from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from tests.mailserver import free_port
from tests.support.form_errors import field_error
from tests.support.pages import login, set_language
from tests.support.statements import counting_client, request_statements

# --- inboxes ---------------------------------------------------------------------------------------


def test_api_and_widget_inboxes_show_their_secret_once_and_the_embed_snippet(fresh, org, rt):
    browser = fresh()
    csrf = login(browser, org, "admin")
    assert "Web chat" in browser.get("/admin/inboxes?channel=widget").text
    created = browser.post(
        "/admin/inboxes",
        data={
            "csrf_token": csrf,
            "channel": "api",
            "name": "Gestionale",
            "callback_url": "https://erp.example.com/hook",
        },
    )
    assert created.status_code == 201, created.text
    secret = re.search(r'<code class="shown-secret">([^<]+)</code>', created.text).group(1)
    with unit_of_work(rt.sessions) as session:
        inbox = session.query(Inbox).filter(Inbox.tenant_id == org.tenant_id, Inbox.name == "Gestionale").one()
        assert inbox.settings["callback_url"] == "https://erp.example.com/hook"
        assert rt.secretbox.open(inbox.secrets_encrypted)["hmac_secret"] == secret
        api_id = inbox.id
    assert secret not in browser.get(f"/admin/inboxes/{api_id}").text
    bad_callback = browser.post(
        f"/admin/inboxes/{api_id}",
        data={"csrf_token": csrf, "name": "Gestionale", "callback_url": "ftp://erp", "active": "1"},
    )
    assert bad_callback.status_code == 422 and "callback_url-error" in bad_callback.text
    assert (
        browser.post(f"/admin/inboxes/{api_id}", data={"csrf_token": csrf, "name": "", "active": "1"}).status_code
        == 422
    )

    widget = {
        "csrf_token": csrf,
        "channel": "widget",
        "name": "Chat sito",
        "allowed_origins": "https://www.example.com",
        "color_primary": "#112233",
        "prechat_fields": "",
    }
    bad_origin = browser.post("/admin/inboxes", data=widget | {"allowed_origins": "www.example.com/path"})
    assert bad_origin.status_code == 422 and "allowed_origins-error" in bad_origin.text
    bad_color = browser.post("/admin/inboxes", data=widget | {"color_primary": "blue"})
    assert bad_color.status_code == 422 and "color_primary-error" in bad_color.text
    bad_json = browser.post("/admin/inboxes", data=widget | {"prechat_fields": "[{"})
    assert bad_json.status_code == 422 and "prechat_fields-error" in bad_json.text
    made = browser.post("/admin/inboxes", data=widget | {"prechat_fields": '[{"name": "email", "required": true}]'})
    assert made.status_code == 201, made.text
    assert "shown-secret" in made.text
    with unit_of_work(rt.sessions) as session:
        inbox = session.query(Inbox).filter(Inbox.tenant_id == org.tenant_id, Inbox.name == "Chat sito").one()
        identifier, widget_id = inbox.identifier, inbox.id
        assert (
            inbox.settings["colors"]["primary"] == "#112233" and inbox.settings["prechat_fields"][0]["required"] is True
        )
    page = htmllib.unescape(browser.get(f"/admin/inboxes/{widget_id}").text)
    assert f'data-inbox="{identifier}"' in page and "shown-secret" not in page  # the snippet, not the secret
    # Saving the form keeps settings it does not show, and the business hours are validated next to their fieldset.
    hours = browser.post(
        f"/admin/inboxes/{widget_id}",
        data=widget | {"active": "1", "hours_enabled": "1", "timezone": "Marte/Base", "hours_mon": "09:00-18:00"},
    )
    assert hours.status_code == 422 and 'id="business_hours-error"' in hours.text
    saved = browser.post(
        f"/admin/inboxes/{widget_id}",
        data=widget | {"hours_enabled": "1", "timezone": "Europe/Rome", "hours_mon": "09:00-18:00"},
    )
    assert saved.status_code == 303
    with unit_of_work(rt.sessions) as session:
        inbox = session.get(Inbox, widget_id)
        assert inbox.active is False and inbox.business_hours["weekly"]["mon"] == [["09:00", "18:00"]]
        assert inbox.settings["max_attachment_bytes"] > 0 and inbox.settings["prechat_fields"] == []


def test_email_inbox_fields_passwords_and_the_check_that_names_the_failing_step(fresh, org, rt):
    set_language(rt, org.users["admin"], "it")
    browser = fresh()
    csrf = login(browser, org, "admin")
    closed_port = free_port()
    email = {
        "csrf_token": csrf,
        "channel": "email",
        "name": "Assistenza",
        "address": "assistenza@example.com",
        "imap_host": "127.0.0.1",
        "imap_port": str(closed_port),
        "imap_security": "none",
        "imap_username": "assistenza",
        "imap_folder": "INBOX",
    }
    no_address = browser.post("/admin/inboxes", data=email | {"address": ""})
    assert no_address.status_code == 422 and field_error(no_address.text, "address") == translate(
        "ui.error.required", "it"
    )
    bad_port = browser.post("/admin/inboxes", data=email | {"imap_port": "70000"})
    assert (
        bad_port.status_code == 422
        and field_error(bad_port.text, "imap_port") == "Scrivi un numero intero da 1 a 65535."
    )
    no_password = browser.post("/admin/inboxes", data=email)
    assert no_password.status_code == 422 and "imap_password-error" in no_password.text
    password = "Segreto-IMAP-9876"
    check = browser.post("/admin/inboxes/check", data=email | {"imap_password": password})
    assert check.status_code == 422, check.text
    assert "imap.connect" in check.text and str(closed_port) in field_error(check.text, "imap_port")
    assert password not in check.text  # the typed password is never sent back
    created = browser.post("/admin/inboxes", data=email | {"imap_password": password})
    assert created.status_code == 303, created.text
    inbox_id = int(created.headers["location"].split("/")[-1].split("?")[0])
    page = browser.get(f"/admin/inboxes/{inbox_id}").text
    assert (
        password not in page
        and 'name="imap_password" type="password" value=""' in page
        and "Verifica impostazioni" in page
    )
    # An empty password field keeps the saved one; the saved inbox's check uses it.
    assert (
        browser.post(
            f"/admin/inboxes/{inbox_id}", data=email | {"from_name": "Assistenza Clienti", "active": "1"}
        ).status_code
        == 303
    )
    with unit_of_work(rt.sessions) as session:
        inbox = session.get(Inbox, inbox_id)
        assert (
            rt.secretbox.open(inbox.secrets_encrypted)["imap_password"] == password
            and inbox.settings["from_name"] == "Assistenza Clienti"
        )
    saved_check = browser.post(f"/admin/inboxes/{inbox_id}/check", data=email | {"active": "1"})
    assert saved_check.status_code == 422 and "imap_port-error" in saved_check.text and password not in saved_check.text


# --- users and teams -------------------------------------------------------------------------------


def test_users_roles_and_what_an_admin_may_grant(fresh, org, rt, client):
    admin = fresh()
    csrf = login(admin, org, "admin")
    team = client.post("/api/v1/teams", json={"name": "Vendite"}, headers=org.headers()).json()["id"]
    new = {
        "csrf_token": csrf,
        "name": "Lucia Verdi",
        "email": "lucia@example.com",
        "role": "agent",
        "language": "it",
        "password": "una password lunga",
        "team_ids": str(team),
    }
    short = admin.post("/admin/users", data=new | {"password": "corta"})
    assert short.status_code == 422 and field_error(short.text, "password") == translate(
        "user.password_short", "en", minimum=10
    )
    bad_email = admin.post("/admin/users", data=new | {"email": "lucia"})
    assert bad_email.status_code == 422 and "email-error" in bad_email.text
    owner = admin.post("/admin/users", data=new | {"role": "owner"})
    assert owner.status_code == 403 and "role-error" in owner.text
    assert (
        '<option value="owner"' not in admin.get("/admin/users").text
    )  # an admin is not offered what they cannot grant
    created = admin.post("/admin/users", data=new)
    assert created.status_code == 303, created.text
    lucia = int(created.headers["location"].split("/")[-1].split("?")[0])
    assert admin.post("/admin/users", data=new).status_code == 422  # the email exists
    assert client.get(f"/api/v1/teams/{team}", headers=org.headers()).json()["member_ids"] == [lucia]
    page = admin.get(f"/admin/users/{lucia}").text
    assert "una password lunga" not in page and re.search(rf'name="team_ids" value="{team}" checked', page)

    # Change role, move out of the team, deactivate from the list and reactivate.
    edit = {"csrf_token": csrf, "name": "Lucia Verdi", "role": "supervisor", "language": "en", "active": "1"}
    assert admin.post(f"/admin/users/{lucia}", data=edit).status_code == 303
    assert client.get(f"/api/v1/teams/{team}", headers=org.headers()).json()["member_ids"] == []
    assert admin.post(f"/admin/users/{lucia}/active", data={"csrf_token": csrf, "active": "0"}).status_code == 303
    with unit_of_work(rt.sessions) as session:
        row = session.get(User, lucia)
        assert row.role == "supervisor" and row.language == "en" and row.active is False
    assert admin.post(f"/admin/users/{lucia}/active", data={"csrf_token": csrf, "active": "1"}).status_code == 303
    # An admin may not change an owner, nor make one.
    assert admin.post(f"/admin/users/{org.users['owner']}", data=edit | {"role": "agent"}).status_code == 403
    assert admin.post(f"/admin/users/{lucia}", data=edit | {"role": "owner"}).status_code == 403
    assert (
        admin.post(f"/admin/users/{org.users['admin']}/active", data={"csrf_token": csrf, "active": "0"}).status_code
        == 422
    )  # not oneself

    # The last owner cannot be demoted, not even by themselves.
    owner_browser = fresh()
    owner_csrf = login(owner_browser, org, "owner")
    last = owner_browser.post(
        f"/admin/users/{org.users['owner']}",
        data={"csrf_token": owner_csrf, "name": "Owner User", "role": "admin", "language": "en", "active": "1"},
    )
    assert last.status_code == 422 and field_error(last.text, "role") == translate("user.last_owner", "en")
    assert (
        owner_browser.post(f"/admin/users/{lucia}", data=edit | {"csrf_token": owner_csrf, "role": "owner"}).status_code
        == 303
    )
    with unit_of_work(rt.sessions) as session:
        assert session.get(User, lucia).role == "owner" and session.get(User, org.users["owner"]).role == "owner"


def test_teams_create_rename_members_delete(fresh, org, rt, client):
    browser = fresh()
    csrf = login(browser, org, "admin")
    empty = browser.post("/admin/teams", data={"csrf_token": csrf, "name": "  "})
    assert empty.status_code == 422 and field_error(empty.text, "name") == translate("ui.error.required", "en")
    created = browser.post(
        "/admin/teams",
        data={
            "csrf_token": csrf,
            "name": "Assistenza",
            "member_ids": [str(org.users["agent"]), str(org.users["supervisor"])],
        },
    )
    assert created.status_code == 303
    team_id = int(created.headers["location"].split("/")[-1].split("?")[0])
    assert browser.post("/admin/teams", data={"csrf_token": csrf, "name": "Vendite"}).status_code == 303
    taken = browser.post(f"/admin/teams/{team_id}", data={"csrf_token": csrf, "name": "Vendite"})
    assert taken.status_code == 409 or taken.status_code == 422
    assert "name-error" in taken.text and 'value="Vendite"' in taken.text
    renamed = browser.post(
        f"/admin/teams/{team_id}",
        data={
            "csrf_token": csrf,
            "name": "Assistenza clienti",
            "description": "Primo livello",
            "member_ids": str(org.users["agent"]),
        },
    )
    assert renamed.status_code == 303
    body = client.get(f"/api/v1/teams/{team_id}", headers=org.headers()).json()
    assert (
        body["name"] == "Assistenza clienti"
        and body["description"] == "Primo livello"
        and body["member_ids"] == [org.users["agent"]]
    )
    assert "Assistenza clienti" in browser.get("/admin/teams").text
    assert browser.post(f"/admin/teams/{team_id}/delete", data={"csrf_token": csrf}).status_code == 303
    with unit_of_work(rt.sessions) as session:
        assert session.get(Team, team_id) is None
    # The service checks the name too (the API has no page in front of it).
    blank = client.post("/api/v1/teams", json={"name": "   "}, headers=org.headers("admin"))
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "name"


def test_users_and_teams_lists_run_no_query_per_row(org, rt, client):
    """The admin lists and the API's teams list read the teams' members in one query, whatever
    the number of teams and users."""
    browser, api = counting_client(client.app), counting_client(client.app)
    login(browser, org, "admin")

    def queries(path: str, **kwargs) -> int:  # type: ignore[no-untyped-def]
        (api.get(path, **kwargs) if kwargs else browser.get(path))  # once before: a token's first use is recorded
        with request_statements(rt.engine) as statements:
            answer = api.get(path, **kwargs) if kwargs else browser.get(path)
            assert answer.status_code == 200, answer.text
        assert statements, f"no statement of {path} was counted"
        return len(statements)

    members = [org.users["agent"], org.users["supervisor"]]
    client.post("/api/v1/teams", json={"name": "Primo", "member_ids": members}, headers=org.headers("admin"))
    before = {path: queries(path) for path in ("/admin/teams", "/admin/users")} | {
        "api": queries("/api/v1/teams", headers=org.headers())
    }
    for index in range(5):
        created = client.post(
            "/api/v1/teams", json={"name": f"Squadra {index}", "member_ids": members}, headers=org.headers("admin")
        )
        assert created.status_code == 201, created.text
    after = {path: queries(path) for path in ("/admin/teams", "/admin/users")} | {
        "api": queries("/api/v1/teams", headers=org.headers())
    }
    assert after == before
