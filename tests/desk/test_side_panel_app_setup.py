"""Side-panel apps over HTTP: the admin setup form (its secret shown once), the apps' API, context message,
signed token and the conversation page's CSP; setup pages are for admins and answer 404 for another
tenant's ids. Both database backends."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from markupsafe import escape

from raccordo.desk.domain.side_panel import verify_token
from raccordo.platform.i18n import translate
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.form_errors import field_error
from tests.support.pages import login, set_language

CRM = "https://crm.example.com/raccordo/panel?x=1"


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
