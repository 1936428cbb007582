"""Answer templates: domain rendering, REST API, admin page, composer picker, and versions per channel and
language. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support.pages import a_conversation, login

# --- answer templates -------------------------------------------------------------------------------


def test_template_rendering_is_plain_substitution():
    from raccordo.desk.domain.templates import pick_body, render, variables

    values = {"contact.first_name": "Giulia", "agent.name": "Marco"}
    assert render("Ciao {{contact.first_name}}, sono {{ agent.name }}.", values) == "Ciao Giulia, sono Marco."
    # Undefined variables are empty; nothing is evaluated, other braces stay as written.
    assert (
        render("[{{contact.vip}}] {{ 7*7 }} {{contact.__class__}} {% if x %}", values)
        == "[] {{ 7*7 }} {{contact.__class__}} {% if x %}"
    )
    assert (
        render("{{contact.first_name}}", {"contact.first_name": "{{agent.name}}"}) == "{{agent.name}}"
    )  # values are not rendered again
    assert variables("{{a.b}} {{c}} {{a.b}}") == ["a.b", "c"]
    assert pick_body("Hello", {"it": "Ciao"}, "it") == "Ciao" and pick_body("Hello", {"it": "Ciao"}, "en") == "Hello"
    assert pick_body("Hello", {"it": "  "}, "it-IT") == "Hello" and pick_body("Hello", {}, None) == "Hello"


def test_templates_api_roles_errors_and_rendering(client, org):
    admin, agent = org.headers("admin"), org.headers("agent")
    body = {
        "name": "Saluto",
        "shortcut": "ciao",
        "body": "Hello {{contact.first_name}}, I am {{agent.name}}.{{contact.unknown}}",
        "bodies": {"it": "Ciao {{contact.first_name}}, sono {{agent.first_name}}."},
    }
    assert client.post("/api/v1/templates", json=body, headers=agent).status_code == 403
    created = client.post("/api/v1/templates", json=body, headers=admin)
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    duplicate = client.post("/api/v1/templates", json=body | {"name": "Altro"}, headers=admin)
    assert duplicate.status_code == 409 and "ciao" in duplicate.json()["detail"]
    bad = client.post("/api/v1/templates", json=body | {"name": "X", "shortcut": "Con spazi"}, headers=admin)
    assert bad.status_code == 422 and "Con spazi" in bad.json()["detail"]
    assert (
        client.post(
            "/api/v1/templates", json=body | {"name": "X", "shortcut": "x", "bodies": {"de": "Hallo"}}, headers=admin
        ).status_code
        == 422
    )
    client.post(
        "/api/v1/templates", json={"name": "Spento", "shortcut": "off", "body": "Mai", "active": False}, headers=admin
    )
    # Agents list them and get them rendered for a conversation, in the contact's language by default.
    assert {t["shortcut"] for t in client.get("/api/v1/templates", headers=agent).json()} == {"ciao", "off"}
    conversation_id, _ = a_conversation(client, org)
    contact_id = client.get(f"/api/v1/conversations/{conversation_id}", headers=agent).json()["contact_id"]
    assert (
        client.patch(f"/api/v1/contacts/{contact_id}", json={"name": "Giulia Bianchi"}, headers=admin).status_code
        == 200
    )
    rendered = client.get(f"/api/v1/conversations/{conversation_id}/templates", headers=agent).json()
    assert [r["shortcut"] for r in rendered] == ["ciao"]  # inactive ones are not offered
    assert rendered[0]["text"] == "Hello Giulia, I am Agent User." and rendered[0]["language"] is None
    italian = client.get(
        f"/api/v1/conversations/{conversation_id}/templates", params={"language": "it"}, headers=agent
    ).json()
    assert italian[0]["text"] == "Ciao Giulia, sono Agent." and italian[0]["language"] == "it"
    assert client.patch(f"/api/v1/contacts/{contact_id}", json={"language": "it"}, headers=admin).status_code == 200
    assert (
        client.get(f"/api/v1/conversations/{conversation_id}/templates", headers=agent)
        .json()[0]["text"]
        .startswith("Ciao Giulia")
    )
    # Edit and delete: admins only.
    assert client.patch(f"/api/v1/templates/{template_id}", json={"body": "Hi"}, headers=agent).status_code == 403
    patched = client.patch(
        f"/api/v1/templates/{template_id}", json={"body": "Hi {{contact.name}}", "bodies": {}}, headers=admin
    )
    assert patched.status_code == 200 and patched.json()["bodies"] == {}
    assert (
        client.get(f"/api/v1/conversations/{conversation_id}/templates", headers=agent).json()[0]["text"]
        == "Hi Giulia Bianchi"
    )
    assert client.delete(f"/api/v1/templates/{template_id}", headers=agent).status_code == 403
    assert client.delete(f"/api/v1/templates/{template_id}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/templates/{template_id}", headers=agent).status_code == 404


def test_templates_admin_page_and_composer_picker(fresh, org, client, rt):
    from tests.support.pages import set_language

    set_language(rt, org.users["admin"], "it")
    browser = fresh()
    csrf = login(browser, org, "admin")
    page = browser.get("/admin/templates")
    assert page.status_code == 200 and "Nuovo modello" in page.text and "{{contact.first_name}}" in page.text
    form = {
        "csrf_token": csrf,
        "name": "Chiusura",
        "shortcut": "fine",
        "body": "Grazie {{contact.first_name}}!",
        "body_en": "Thanks {{contact.first_name}}!",
        "active": "1",
    }
    bad = browser.post("/admin/templates", data=form | {"shortcut": "Non va"})
    assert bad.status_code == 422 and 'id="shortcut-error"' in bad.text and "Non va" in bad.text
    assert "Grazie {{contact.first_name}}!" in bad.text  # what was typed stays
    created = browser.post("/admin/templates", data=form)
    assert created.status_code == 303
    edit = browser.get(created.headers["location"])
    assert "Salvato." in edit.text and "Thanks {{contact.first_name}}!" in edit.text
    template_id = int(created.headers["location"].split("/")[-1].split("?")[0])
    assert browser.post(f"/admin/templates/{template_id}", data=form | {"body_en": ""}).status_code == 303
    assert client.get(f"/api/v1/templates/{template_id}", headers=org.headers()).json()["bodies"] == {}
    # Agents cannot open the page; the composer offers the picker.
    agent = fresh()
    login(agent, org, "agent")
    assert agent.get("/admin/templates").status_code == 403
    conversation_id, _ = a_conversation(client, org)
    composer = agent.get(f"/conversations/{conversation_id}").text
    assert (
        'id="template-picker"' in composer
        and f'data-templates-url="/api/v1/conversations/{conversation_id}/templates"' in composer
    )
    assert browser.post(f"/admin/templates/{template_id}/delete", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/api/v1/templates", headers=org.headers()).json() == []


def test_dynamic_template_keys_are_in_both_catalogs():
    """Keys built in templates (``t('prefix.' ~ value)``) that the generic template check cannot see."""
    from raccordo.desk.domain.templates import LANGUAGES
    from raccordo.platform.i18n import catalog

    keys = {f"ui.transfer.group.{kind}" for kind in ("user", "team", "queue")} | {
        f"ui.admin.templates.body_in.{lang}" for lang in LANGUAGES
    }
    keys |= {"noun.answer_templates", "noun.wrap_up_codes", "template.name_exists", "template.shortcut_exists"}
    assert not [k for k in keys if k not in catalog("en") or k not in catalog("it")]


def test_template_versions_per_channel_and_language():
    from raccordo.desk.domain.templates import pick_variant, validate
    from raccordo.platform.errors import InvalidInput

    bodies = {"it": "Ciao", "email": "Dear customer,\nregards", "email:it": "Gentile cliente,\ncordiali saluti"}
    assert pick_variant("Hi", bodies, "it", "email") == ("Gentile cliente,\ncordiali saluti", "email:it")
    assert pick_variant("Hi", bodies, "en", "email") == ("Dear customer,\nregards", "email")
    assert pick_variant("Hi", bodies, "it", "widget") == ("Ciao", "it")
    assert pick_variant("Hi", bodies, "en", "widget") == ("Hi", None)
    assert (
        validate("N", "n", "Hi", bodies | {"widget": " "}, ["email", "widget"]) == bodies
    )  # blank versions are dropped
    for wrong in ("de", "fax", "fax:it", "email:de", ":it", "email:"):
        with pytest.raises(InvalidInput) as raised:
            validate("N", "n", "Hi", {wrong: "x"}, ["email", "widget"])
        assert raised.value.field == "bodies" and raised.value.params["value"] == wrong


def test_the_inbox_the_agent_answers_on_picks_the_version(client, org):
    admin, agent = org.headers("admin"), org.headers("agent")
    email_inbox = client.post(
        "/api/v1/inboxes",
        json={"name": "Posta", "channel": "email", "settings": {"address": "help@example.com"}},
        headers=admin,
    )
    assert email_inbox.status_code == 201, email_inbox.text
    body = {
        "name": "Spedizione",
        "shortcut": "sped",
        "body": "Your parcel left today.",
        "bodies": {
            "api": "📦 left today",
            "email:en": "Dear {{contact.first_name}},\nyour parcel left today.\nKind regards, {{agent.name}}",
        },
    }
    created = client.post("/api/v1/templates", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert (
        client.post(
            "/api/v1/templates", json=body | {"name": "X", "shortcut": "x", "bodies": {"fax": "..."}}, headers=admin
        ).status_code
        == 422
    )
    conversation_id, _ = a_conversation(client, org)
    contact_id = client.get(f"/api/v1/conversations/{conversation_id}", headers=agent).json()["contact_id"]
    client.patch(f"/api/v1/contacts/{contact_id}", json={"name": "Giulia Bianchi", "language": "en"}, headers=admin)
    url = f"/api/v1/conversations/{conversation_id}/templates"
    on_last = client.get(url, headers=agent).json()[0]  # the customer wrote through the API channel
    assert (on_last["text"], on_last["variant"], on_last["language"]) == ("📦 left today", "api", None)
    by_email = client.get(url, params={"inbox_id": email_inbox.json()["id"]}, headers=agent).json()[0]
    assert (
        by_email["text"] == "Dear Giulia,\nyour parcel left today.\nKind regards, Agent User"
        and by_email["variant"] == "email:en"
        and by_email["language"] == "en"
    )
    assert client.get(url, params={"inbox_id": 10**9}, headers=agent).status_code == 404


def test_templates_admin_page_saves_versions_per_channel(fresh, org, client):
    browser = fresh()
    csrf = login(browser, org, "admin")
    page = browser.get("/admin/templates")
    assert (
        'name="body_email:it"' in page.text
        and 'name="body_widget"' in page.text
        and 'for="f-body-email-it"' in page.text
    )
    form = {
        "csrf_token": csrf,
        "name": "Firma",
        "shortcut": "firma",
        "body": "Bye",
        "body_email:it": "Cordiali saluti,\n{{agent.name}}",
        "body_widget": "Ciao!",
        "active": "1",
    }
    saved = browser.post("/admin/templates", data=form)
    assert saved.status_code == 303, saved.text
    template = next(
        t for t in client.get("/api/v1/templates", headers=org.headers("admin")).json() if t["shortcut"] == "firma"
    )
    assert template["bodies"] == {"email:it": "Cordiali saluti,\n{{agent.name}}", "widget": "Ciao!"}
    edit = browser.get(f"/admin/templates/{template['id']}")
    assert "Cordiali saluti" in edit.text and "<details open>" in edit.text, "a channel with a version opens by itself"
