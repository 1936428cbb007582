"""Agent desktop additions: transfer from the conversation view, the collision indicator, answer
templates (domain rendering, REST API, admin page, composer picker), wrap-up codes required by a
queue on resolve, and @mentions in internal notes. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Conversation, Message
from raccordo.routing.models import RoutingEvent
from tests.support.pages import a_conversation, login

HX = "HX-Request"


def _hx(csrf: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf, HX: "true"}


# --- transfer and collision -------------------------------------------------------------------------


def test_transfer_from_the_conversation_view(fresh, org, other_org, client, rt):
    conversation_id, _ = a_conversation(client, org)
    queue = client.post(
        "/api/v1/queues", json={"name": f"Secondo livello {uuid.uuid4().hex[:4]}"}, headers=org.headers("admin")
    )
    assert queue.status_code == 201, queue.text
    browser = fresh()
    csrf = login(browser, org, "agent")
    page = browser.get(f"/conversations/{conversation_id}").text
    # The form offers colleagues (not oneself), teams and queues.
    assert f'value="user:{org.users["supervisor"]}"' in page and f'value="user:{org.users["agent"]}"' not in page
    assert f'value="queue:{queue.json()["id"]}"' in page and 'label="Queues"' in page
    # Collision indicator: present, hidden until someone else shows up, with the names to show.
    box = re.search(r'<p id="collision"[^>]*>', page).group(0)
    assert "hidden" in box and 'data-viewing="Also viewing: {names}"' in box
    names = json.loads(re.search(r'data-users="([^"]*)"', box).group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert names[str(org.users["supervisor"])] == "Supervisor User"

    empty = browser.post(f"/conversations/{conversation_id}/transfer", data={"target": ""}, headers=_hx(csrf))
    assert empty.status_code == 422 and translate("ui.transfer.choose", "en") in empty.text
    done = browser.post(
        f"/conversations/{conversation_id}/transfer",
        data={"target": f"user:{org.users['supervisor']}", "note": "Chiede un rimborso"},
        headers=_hx(csrf),
    )
    # Handed to a colleague outside the agent's teams: it leaves the agent's sight (docs/desktop.md).
    assert done.status_code == 200 and done.headers["hx-redirect"] == "/inbox"
    with unit_of_work(rt.sessions) as session:
        assert session.get(Conversation, conversation_id).assignee_id == org.users["supervisor"]
        notes = (
            session.query(Message).filter(Message.conversation_id == conversation_id, Message.direction == "note").all()
        )
        assert [n.text for n in notes] == ["Chiede un rimborso"]
        kinds = [e.kind for e in session.query(RoutingEvent).filter(RoutingEvent.conversation_id == conversation_id)]
        assert "transferred" in kinds
    # Now it is the supervisor's: the agent may not take it away, and is told why.
    refused = browser.post(
        f"/conversations/{conversation_id}/transfer", data={"target": f"queue:{queue.json()['id']}"}, headers=_hx(csrf)
    )
    assert refused.status_code == 422 and translate("conversation.not_yours", "en") in refused.text
    # A supervisor moves it to the queue.
    boss = fresh()
    boss_csrf = login(boss, org, "supervisor")
    moved = boss.post(
        f"/conversations/{conversation_id}/transfer",
        data={"target": f"queue:{queue.json()['id']}"},
        headers=_hx(boss_csrf),
    )
    assert moved.status_code == 200
    assert client.get(f"/api/v1/conversations/{conversation_id}", headers=org.headers()).json()["assignee_id"] is None
    # Another tenant's queue is not found, and nothing changes.
    theirs = client.post("/api/v1/queues", json={"name": "Loro"}, headers=other_org.headers("admin")).json()["id"]
    assert (
        boss.post(
            f"/conversations/{conversation_id}/transfer", data={"target": f"queue:{theirs}"}, headers=_hx(boss_csrf)
        ).status_code
        == 404
    )
    assert (
        browser.post(
            f"/conversations/{conversation_id}/transfer", data={"target": f"user:{org.users['agent']}"}
        ).status_code
        == 403
    )  # no CSRF token


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


# --- wrap-up codes ------------------------------------------------------------------------------------


def _queued_conversation(client, org, queue_requires: bool = True) -> tuple[int, int, int]:
    """A conversation routed through a queue (that requires a wrap-up code), answered once by the agent."""
    admin = org.headers("admin")
    queue = client.post(
        "/api/v1/queues",
        json={"name": f"Vendite {uuid.uuid4().hex[:4]}", "requires_wrap_up": queue_requires},
        headers=admin,
    )
    assert queue.status_code == 201 and queue.json()["requires_wrap_up"] is queue_requires, queue.text
    conversation_id, inbox_id = a_conversation(client, org)
    moved = client.post(
        f"/api/v1/conversations/{conversation_id}/transfer",
        json={"queue_id": queue.json()["id"]},
        headers=org.headers("supervisor"),
    )
    assert moved.status_code == 200, moved.text
    assert (
        client.patch(
            f"/api/v1/conversations/{conversation_id}",
            json={"assignee_id": org.users["agent"]},
            headers=org.headers("supervisor"),
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/api/v1/conversations/{conversation_id}/reply",
            json={"text": "Eccomi", "inbox_id": inbox_id},
            headers=org.headers("agent"),
        ).status_code
        == 201
    )
    return conversation_id, inbox_id, queue.json()["id"]


def test_wrap_up_codes_api_and_required_on_resolve(client, org):
    admin, agent = org.headers("admin"), org.headers("agent")
    assert (
        client.post("/api/v1/wrap-up-codes", json={"code": "vendita", "label": "Vendita"}, headers=agent).status_code
        == 403
    )
    sale = client.post("/api/v1/wrap-up-codes", json={"code": "vendita", "label": "Vendita"}, headers=admin)
    assert sale.status_code == 201, sale.text
    assert (
        client.post("/api/v1/wrap-up-codes", json={"code": "VENDITA", "label": "Doppia"}, headers=admin).status_code
        == 409
    )
    assert (
        client.post("/api/v1/wrap-up-codes", json={"code": "con spazio", "label": "X"}, headers=admin).status_code
        == 422
    )
    old = client.post(
        "/api/v1/wrap-up-codes", json={"code": "vecchio", "label": "Vecchio", "active": False}, headers=admin
    ).json()
    assert {c["code"] for c in client.get("/api/v1/wrap-up-codes", headers=agent).json()} == {"vendita", "vecchio"}

    conversation_id, _, queue_id = _queued_conversation(client, org)
    url = f"/api/v1/conversations/{conversation_id}"
    missing = client.patch(url, json={"status": "resolved"}, headers=agent)
    assert missing.status_code == 422, missing.text
    problem = missing.json()
    assert (
        problem["errors"][0]["field"] == "wrap_up_code"
        and "wrap_up_code" in problem["detail"]
        and "Vendite" in problem["detail"]
    )
    assert client.get(url, headers=agent).json()["status"] == "open"
    for wrong in ("nessuno", "vecchio"):  # unknown, or deactivated
        response = client.patch(url, json={"status": "resolved", "wrap_up_code": wrong}, headers=agent)
        assert response.status_code == 422 and wrong in response.json()["detail"]
    resolved = client.patch(url, json={"status": "resolved", "wrap_up_code": "vendita"}, headers=agent)
    assert (
        resolved.status_code == 200
        and resolved.json()["wrap_up_code"] == "vendita"
        and resolved.json()["status"] == "resolved"
    )
    events = client.get(f"{url}/routing-events", headers=agent).json()
    assert [e["data"].get("wrap_up_code") for e in events if e["kind"] == "resolved"] == ["vendita"]
    # Reopening clears the outcome: the next resolve needs its own.
    reopened = client.patch(url, json={"status": "open"}, headers=agent)
    assert reopened.status_code == 200 and reopened.json()["wrap_up_code"] is None
    assert client.patch(url, json={"status": "resolved"}, headers=agent).status_code == 422
    # A queue that does not require one: resolving without a code works.
    other_id, _, _ = _queued_conversation(client, org, queue_requires=False)
    assert (
        client.patch(f"/api/v1/conversations/{other_id}", json={"status": "resolved"}, headers=agent).status_code == 200
    )
    # Codes: edit and delete are admins' (the conversation keeps its code as text).
    assert client.patch(f"/api/v1/wrap-up-codes/{old['id']}", json={"active": True}, headers=agent).status_code == 403
    assert (
        client.patch(f"/api/v1/wrap-up-codes/{old['id']}", json={"label": "Vecchio esito"}, headers=admin).json()[
            "label"
        ]
        == "Vecchio esito"
    )
    assert client.delete(f"/api/v1/wrap-up-codes/{sale.json()['id']}", headers=admin).status_code == 204
    assert (
        client.patch(f"/api/v1/queues/{queue_id}", json={"requires_wrap_up": False}, headers=admin).json()[
            "requires_wrap_up"
        ]
        is False
    )


def test_wrap_up_in_the_conversation_view_and_admin_pages(fresh, org, client, rt):
    from tests.support.pages import set_language

    set_language(rt, org.users["admin"], "it")
    admin = fresh()
    csrf = login(admin, org, "admin")
    assert admin.get("/admin/wrap-up-codes").status_code == 200
    bad = admin.post(
        "/admin/wrap-up-codes", data={"csrf_token": csrf, "code": "a b", "label": "Informazioni", "active": "1"}
    )
    assert bad.status_code == 422 and 'id="code-error"' in bad.text and "non è valido" in bad.text
    created = admin.post(
        "/admin/wrap-up-codes", data={"csrf_token": csrf, "code": "info", "label": "Informazioni", "active": "1"}
    )
    assert created.status_code == 303
    conversation_id, _, queue_id = _queued_conversation(client, org, queue_requires=False)
    # The queue page sets the requirement.
    queue = client.get(f"/api/v1/queues/{queue_id}", headers=org.headers()).json()
    saved = admin.post(
        f"/admin/queues/{queue_id}",
        data={
            "csrf_token": csrf,
            "name": queue["name"],
            "strategy": "longest_idle",
            "active": "1",
            "requires_wrap_up": "1",
        },
    )
    assert saved.status_code == 303
    assert client.get(f"/api/v1/queues/{queue_id}", headers=org.headers()).json()["requires_wrap_up"] is True
    assert 'name="requires_wrap_up" value="1" checked' in admin.get(f"/admin/queues/{queue_id}").text
    page = admin.get("/admin/wrap-up-codes").text
    assert "Obbligatori per le code: " + queue["name"] in page

    set_language(rt, org.users["agent"], "it")
    agent = fresh()
    agent_csrf = login(agent, org, "agent")
    view = agent.get(f"/conversations/{conversation_id}").text
    assert 'name="wrap_up_code" required' in view and '<option value="info"' in view and "obbligatorio" in view
    refused = agent.post(
        f"/conversations/{conversation_id}/status", data={"status": "resolved"}, headers=_hx(agent_csrf)
    )
    assert (
        refused.status_code == 422
        and translate("wrapup.required", "it", queue=queue["name"]).replace('"', "&#34;") in refused.text
    )
    done = agent.post(
        f"/conversations/{conversation_id}/status",
        data={"status": "resolved", "wrap_up_code": "info"},
        headers=_hx(agent_csrf),
    )
    assert done.status_code == 200 and "Esito: Informazioni" in done.text
    with unit_of_work(rt.sessions) as session:
        assert session.get(Conversation, conversation_id).wrap_up_code == "info"


# --- @mentions in internal notes -------------------------------------------------------------------


def test_find_mentions():
    from raccordo.desk.domain.mentions import find_mentions

    people = [
        (1, "Mario Rossi", "mario@x.it"),
        (2, "Mariolina Bianchi", "mb@x.it"),
        (3, "Anna Verdi", "anna.v@x.it"),
        (4, "Anna Neri", "neri@x.it"),
    ]
    assert find_mentions("@Mario puoi vedere?", people) == [1]  # not Mariolina
    assert find_mentions("per @mariolina bianchi e @anna.v", people) == [2, 3]
    assert find_mentions("@Anna chi?", people) == []  # two Annas: the first name alone is ambiguous
    assert find_mentions("scrivi a mario@x.it", people) == [] and find_mentions("nessuno", people) == []
    assert find_mentions("@Anna Neri, @neri", people) == [4]


def test_mention_in_a_note_notifies_the_user(org, client, rt):
    from raccordo.accounts.domain.roles import Role
    from raccordo.platform.store.models import Event
    from raccordo.realtime.domain.visibility import Subscriber, visible
    from tests.support.realtime import connect_desktop, until_message

    conversation_id, _ = a_conversation(client, org)
    with connect_desktop(client, org.tokens["agent"]) as agent_ws:
        until_message(agent_ws, lambda m: m["type"] == "hello")
        note = client.post(
            f"/api/v1/conversations/{conversation_id}/notes",
            json={"text": "@Agent User puoi richiamare? cc @admin"},
            headers=org.headers("supervisor"),
        )
        assert note.status_code == 201, note.text
        assert note.json()["content_attributes"]["mentions"] == sorted([org.users["agent"], org.users["admin"]])
        event = until_message(agent_ws, lambda m: m["type"] == "event" and m["kind"] == "mention.created")
    assert event["user_id"] == org.users["agent"]
    assert {
        "conversation_id": conversation_id,
        "by_name": "Supervisor User",
        "message_id": note.json()["id"],
    }.items() <= event["payload"].items()
    with unit_of_work(rt.sessions) as session:
        rows = session.query(Event).filter(Event.tenant_id == org.tenant_id, Event.kind == "mention.created").all()
        assert sorted(r.user_id for r in rows) == sorted([org.users["agent"], org.users["admin"]])
        # Addressed: another agent, not mentioned and not watching the conversation, does not get it.
        message = {
            "tenant_id": org.tenant_id,
            "kind": "mention.created",
            "user_id": org.users["agent"],
            "conversation_id": conversation_id,
            "payload": {},
        }
        assert not visible(message, Subscriber(org.tenant_id, 10**9, Role.AGENT))
    # Mentioning oneself notifies nobody.
    client.post(
        f"/api/v1/conversations/{conversation_id}/notes",
        json={"text": "promemoria per @supervisor"},
        headers=org.headers("supervisor"),
    )
    with unit_of_work(rt.sessions) as session:
        assert (
            session.query(Event).filter(Event.tenant_id == org.tenant_id, Event.kind == "mention.created").count() == 2
        )


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
