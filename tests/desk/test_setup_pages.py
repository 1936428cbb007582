"""Admin setup pages over HTTP (inboxes, users, teams, side-panel apps) and the side-panel apps'
API, context message, signed token and the conversation page's CSP. Both database backends."""

from __future__ import annotations

import html as htmllib
import re
import time
import uuid

import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from raccordo.accounts.models import Team, User
from raccordo.channels.models import Inbox
from raccordo.desk.domain.side_panel import verify_token
from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.mailserver import free_port
from tests.support.pages import login, set_language

CRM = "https://crm.example.com/raccordo/panel?x=1"


@pytest.fixture
def fresh(client):
    def make() -> TestClient:
        return TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)

    return make


def conversation_of(client, org, inbox=None) -> tuple[int, int]:
    inbox = inbox or create_api_inbox(client, org.headers("admin"), name=f"API {uuid.uuid4().hex[:6]}")
    payload = customer_message(f"m-{uuid.uuid4().hex}", "Buongiorno", email=f"c-{uuid.uuid4().hex[:6]}@example.com")
    payload["contact"]["name"] = "Mario Rossi"
    assert post_inbound(client, inbox, payload).status_code == 200
    items = client.get("/api/v1/conversations", params={"inbox_id": inbox.id}, headers=org.headers()).json()["items"]
    return items[0]["id"], inbox.id


def csp(response) -> str:
    return response.headers["content-security-policy"]


def frame_src(response) -> list[str]:
    return re.search(r"frame-src ([^;]+)", csp(response)).group(1).split()


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(name)}-error" role="alert">([^<]*)</p>', html)
    assert found, f"no error next to {name}"
    return htmllib.unescape(found.group(1))


# --- side-panel apps -------------------------------------------------------------------------------


def test_app_form_validates_and_shows_the_secret_once(fresh, org, rt, client):
    set_language(rt, org.users["admin"], "it")
    browser = fresh()
    csrf = login(browser, org, "admin")
    base = {
        "csrf_token": csrf,
        "name": "CRM",
        "url": CRM,
        "position": "1",
        "share": ["contact.name", "contact.identities"],
        "active": "1",
    }
    plain_http = browser.post("/admin/apps", data=base | {"url": "http://crm.example.com/panel"})
    assert plain_http.status_code == 422
    assert field_error(plain_http.text, "url") == translate(
        "apps.url_not_https", "it", value="http://crm.example.com/panel"
    )
    assert 'value="http://crm.example.com/panel"' in plain_http.text  # what was typed stays
    for bad in ("javascript:alert(1)", "https://user:pw@crm.example.com/", "https://crm.example.com;script-src/"):
        response = browser.post("/admin/apps", data=base | {"url": bad})
        assert response.status_code == 422 and field_error(response.text, "url").startswith(
            "Indirizzo non utilizzabile"
        ), bad
    no_name = browser.post("/admin/apps", data=base | {"name": " "})
    assert no_name.status_code == 422 and field_error(no_name.text, "name") == translate("apps.name_required", "it")
    bad_position = browser.post("/admin/apps", data=base | {"position": "5000"})
    assert bad_position.status_code == 422 and "position-error" in bad_position.text

    created = browser.post("/admin/apps", data=base)
    assert created.status_code == 201, created.text
    secret = re.search(r'<code id="app-secret">([^<]+)</code>', created.text).group(1)
    app_id = client.get("/api/v1/side-panel-apps", headers=org.headers("admin")).json()[0]["id"]
    edit = browser.get(f"/admin/apps/{app_id}")
    assert edit.status_code == 200 and secret not in edit.text and "https://crm.example.com" in edit.text
    duplicate = browser.post("/admin/apps", data=base)
    assert duplicate.status_code == 422 and field_error(duplicate.text, "name") == translate(
        "apps.name_taken", "it", value="CRM"
    )

    # The context an agent's page posts to the app: only the shared parts, signed with this secret.
    conversation_id, _ = conversation_of(client, org)
    apps = client.get(f"/api/v1/conversations/{conversation_id}/side-panel-apps", headers=org.headers("agent"))
    assert apps.status_code == 200, apps.text
    [entry] = apps.json()
    assert entry["origin"] == "https://crm.example.com" and entry["url"] == CRM
    message = entry["message"]
    assert message["type"] == "raccordo.context" and message["version"] == 1
    assert (
        message["conversation"]["id"] == conversation_id
        and message["conversation"]["channel"] == "api"
        and message["conversation"]["status"] == "open"
    )
    assert message["contact"]["name"] == "Mario Rossi" and message["contact"]["identities"][0]["kind"] == "email"
    assert (
        message["conversation"]["subject"] is None
        and message["agent"]["name"] is None
        and message["agent"]["id"] == org.users["agent"]
    )
    claims = verify_token(secret, message["token"], time.time())
    assert (
        claims
        and claims["conversation_id"] == conversation_id
        and claims["contact_id"] == message["contact"]["id"]
        and claims["agent_id"] == org.users["agent"]
    )
    assert claims["tenant_id"] == org.tenant_id and claims["exp"] > time.time()
    assert verify_token(secret + "x", message["token"], time.time()) is None

    rotated = browser.post(f"/admin/apps/{app_id}/rotate-secret", data={"csrf_token": csrf})
    new_secret = re.search(r'<code id="app-secret">([^<]+)</code>', rotated.text).group(1)
    assert new_secret != secret
    token = client.get(f"/api/v1/conversations/{conversation_id}/side-panel-apps", headers=org.headers("agent")).json()[
        0
    ]["message"]["token"]
    assert verify_token(new_secret, token, time.time()) and verify_token(secret, token, time.time()) is None
    assert (
        secret not in browser.get(f"/admin/apps/{app_id}").text
        and new_secret not in browser.get(f"/admin/apps/{app_id}").text
    )

    assert browser.post(f"/admin/apps/{app_id}/delete", data={"csrf_token": csrf}).status_code == 303
    assert (
        client.get(f"/api/v1/conversations/{conversation_id}/side-panel-apps", headers=org.headers("agent")).json()
        == []
    )


def test_csp_frames_the_app_origin_only_for_the_tenant_that_configured_it(fresh, org, other_org, client):
    admin = org.headers("admin")
    conversation_id, _ = conversation_of(client, org)
    theirs, _ = conversation_of(client, other_org)
    made = client.post("/api/v1/side-panel-apps", json={"name": "CRM", "url": CRM}, headers=admin)
    assert made.status_code == 201, made.text
    other_inbox = create_api_inbox(client, admin, name="Other inbox")
    filtered = client.post(
        "/api/v1/side-panel-apps",
        json={"name": "Shop", "url": "https://shop.example.net/", "inbox_ids": [other_inbox.id]},
        headers=admin,
    )
    inactive = client.post(
        "/api/v1/side-panel-apps",
        json={"name": "Old", "url": "https://old.example.org/", "active": False},
        headers=admin,
    )
    assert filtered.status_code == inactive.status_code == 201

    agent = fresh()
    login(agent, org, "agent")
    page = agent.get(f"/conversations/{conversation_id}")
    assert page.status_code == 200
    assert frame_src(page) == ["'self'", "https://crm.example.com"]
    assert "frame-ancestors 'none'" in csp(page) and "script-src 'self';" in csp(page)
    frame = re.search(r"<iframe[^>]*data-side-app[^>]*>", page.text).group(0)
    assert (
        'sandbox="allow-scripts allow-forms allow-popups allow-same-origin"' in frame
        and f'src="{escape(CRM)}"' in frame
    )
    assert 'data-origin="https://crm.example.com"' in frame
    assert "shop.example.net" not in page.text and "old.example.org" not in page.text
    assert frame_src(agent.get("/inbox")) == ["'self'"]  # only the conversation page frames apps

    # The filtered app appears where its inbox is.
    other_conversation, _ = conversation_of(client, org, other_inbox)
    assert frame_src(agent.get(f"/conversations/{other_conversation}")) == [
        "'self'",
        "https://crm.example.com",
        "https://shop.example.net",
    ]

    # Another tenant's conversation page frames nothing of ours.
    outsider = fresh()
    login(outsider, other_org, "agent")
    assert frame_src(outsider.get(f"/conversations/{theirs}")) == ["'self'"]
    assert (
        client.get(f"/api/v1/conversations/{theirs}/side-panel-apps", headers=other_org.headers("agent")).json() == []
    )


def test_app_api_roles_and_validation(client, org):
    body = {"name": "CRM", "url": CRM}
    for role in ("agent", "supervisor"):
        assert client.post("/api/v1/side-panel-apps", json=body, headers=org.headers(role)).status_code == 403
        assert client.get("/api/v1/side-panel-apps", headers=org.headers(role)).status_code == 403
    bad = client.post(
        "/api/v1/side-panel-apps", json=body | {"url": "http://192.168.1.10/crm"}, headers=org.headers("admin")
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "url", bad.text
    unknown = client.post(
        "/api/v1/side-panel-apps", json=body | {"share": ["contact.password"]}, headers=org.headers("admin")
    )
    assert unknown.status_code == 422 and "contact.password" in unknown.text
    local = client.post(
        "/api/v1/side-panel-apps", json=body | {"url": "http://localhost:8081/crm"}, headers=org.headers("admin")
    )
    assert local.status_code == 201 and local.json()["origin"] == "http://localhost:8081" and local.json()["secret"]
    assert (
        "secret" not in client.get(f"/api/v1/side-panel-apps/{local.json()['id']}", headers=org.headers("admin")).json()
    )
    patched = client.patch(
        f"/api/v1/side-panel-apps/{local.json()['id']}", json={"url": "ftp://x"}, headers=org.headers("admin")
    )
    assert patched.status_code == 422


# --- who may open the setup pages; other tenants' ids ---------------------------------------------


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_setup_pages_are_for_admins(fresh, org, role):
    browser = fresh()
    csrf = login(browser, org, role)
    for path in ("/admin/inboxes", "/admin/users", "/admin/teams", "/admin/apps", f"/admin/users/{org.users['agent']}"):
        response = browser.get(path)
        assert response.status_code == 403 and "text/html" in response.headers["content-type"], path
    assert browser.post("/admin/teams", data={"csrf_token": csrf, "name": "x"}).status_code == 403
    assert browser.post("/admin/apps", data={"csrf_token": csrf, "name": "x", "url": CRM}).status_code == 403
    assert 'href="/admin/apps"' not in browser.get("/inbox").text


def test_setup_pages_answer_404_for_another_tenants_ids(fresh, org, other_org, client):
    theirs = other_org.headers("admin")
    inbox = create_api_inbox(client, theirs, name="Theirs")
    team = client.post("/api/v1/teams", json={"name": "Loro"}, headers=theirs).json()["id"]
    app = client.post("/api/v1/side-panel-apps", json={"name": "Loro", "url": CRM}, headers=theirs).json()["id"]
    browser = fresh()
    csrf = login(browser, org, "owner")
    home = browser.get("/admin/users").text
    assert other_org.email("agent") not in home
    paths = (
        f"/admin/inboxes/{inbox.id}",
        f"/admin/users/{other_org.users['agent']}",
        f"/admin/teams/{team}",
        f"/admin/apps/{app}",
    )
    for path in paths:
        assert browser.get(path).status_code == 404, path
        assert (
            browser.post(
                path, data={"csrf_token": csrf, "name": "Preso", "url": CRM, "role": "agent", "language": "it"}
            ).status_code
            == 404
        ), path
    for path in (
        f"/admin/teams/{team}/delete",
        f"/admin/apps/{app}/delete",
        f"/admin/apps/{app}/rotate-secret",
        f"/admin/users/{other_org.users['agent']}/active",
        f"/admin/inboxes/{inbox.id}/check",
    ):
        assert browser.post(path, data={"csrf_token": csrf, "active": "0"}).status_code == 404, path
    assert client.get(f"/api/v1/teams/{team}", headers=theirs).json()["name"] == "Loro"
    assert client.get(f"/api/v1/side-panel-apps/{app}", headers=theirs).status_code == 200
    assert client.get(f"/api/v1/users/{other_org.users['agent']}", headers=theirs).json()["active"] is True
    # Our app cannot be limited to their inbox.
    foreign = browser.post(
        "/admin/apps", data={"csrf_token": csrf, "name": "CRM", "url": CRM, "inbox_ids": str(inbox.id)}
    )
    assert foreign.status_code == 422 and str(inbox.id) in foreign.text
    assert client.get("/api/v1/side-panel-apps", headers=org.headers()).json() == []


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


def test_users_and_teams_lists_run_no_query_per_row(fresh, org, rt, client):
    """The admin lists and the API's teams list read the teams' members in one query, whatever
    the number of teams and users."""
    from sqlalchemy import event

    browser = fresh()
    login(browser, org, "admin")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    def queries(path: str, **kwargs) -> int:  # type: ignore[no-untyped-def]
        (client.get(path, **kwargs) if kwargs else browser.get(path))  # once before: a token's first use is recorded
        statements.clear()
        event.listen(rt.engine, "before_cursor_execute", count)
        try:
            answer = client.get(path, **kwargs) if kwargs else browser.get(path)
            assert answer.status_code == 200, answer.text
        finally:
            event.remove(rt.engine, "before_cursor_execute", count)
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
