"""The composer's @mention people list and the customer panel's actions on the conversation page: consent
changes, merges and dismissals, by role and scoped to the tenant. HTTP level, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Event
from raccordo.record.models import AuditEntry
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.pages import login

# --- @mentions: the people list ---------------------------------------------------------------------


def test_people_for_mentions_are_the_tenants_active_users_and_their_form_notifies(client, rt, org, other_org):
    people = client.get("/api/v1/composer/people", headers=org.headers("agent"))
    assert people.status_code == 200
    rows = {p["id"]: p for p in people.json()}
    assert set(rows) == set(org.users.values()), "only this tenant's users"
    assert not set(rows) & set(other_org.users.values())
    supervisor = rows[org.users["supervisor"]]
    assert supervisor == {
        "id": org.users["supervisor"],
        "name": "Supervisor User",
        "handle": "supervisor",
        "insert": "Supervisor User",
    }
    created = client.post(
        "/api/v1/users",
        json={
            "email": f"anna@{org.slug}.example.com",
            "name": "Anna Rossi",
            "role": "agent",
            "password": "correct horse battery",
        },
        headers=org.headers(),
    )
    assert created.status_code == 201, created.text
    assert (
        client.patch(f"/api/v1/users/{created.json()['id']}", json={"active": False}, headers=org.headers()).status_code
        == 200
    )
    assert created.json()["id"] not in {
        p["id"] for p in client.get("/api/v1/composer/people", headers=org.headers("agent")).json()
    }
    assert client.get("/api/v1/composer/people").status_code == 401
    # The inserted form is what the mention parser recognises: the note notifies that user.
    inbox = create_api_inbox(client, org.headers())
    post_inbound(
        client, inbox, customer_message(uuid.uuid4().hex, "Aiuto", email=f"m-{uuid.uuid4().hex[:6]}@example.com")
    )
    conversation_id = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]["id"]
    note = client.post(
        f"/api/v1/conversations/{conversation_id}/notes",
        json={"text": f"@{supervisor['insert']} guarda qui"},
        headers=org.headers("agent"),
    )
    assert note.status_code == 201
    with unit_of_work(rt.sessions) as session:
        events = session.scalars(
            select(Event).where(Event.tenant_id == org.tenant_id, Event.kind == "mention.created")
        ).all()
    assert [e.user_id for e in events] == [org.users["supervisor"]]


# --- consent ---------------------------------------------------------------------------------------------


def _conversation(client, org, name: str = "Giulia Bianchi", **identities: str) -> tuple[int, int]:
    inbox = create_api_inbox(client, org.headers())
    identities = identities or {"email": f"g-{uuid.uuid4().hex[:6]}@example.com"}
    post_inbound(client, inbox, customer_message(uuid.uuid4().hex, "Buongiorno", name=name, **identities))
    conversation = client.get("/api/v1/conversations", params={"inbox_id": inbox.id}, headers=org.headers()).json()[
        "items"
    ][0]
    return conversation["id"], conversation["contact_id"]


def test_consent_change_is_recorded_audited_on_the_timeline_and_scoped(client, rt, org, other_org, fresh):
    conversation_id, contact_id = _conversation(client, org)
    url = f"/api/v1/contacts/{contact_id}/consent"
    recorded = client.post(
        url,
        json={"purpose": "marketing_email", "granted": False, "source": "phone", "note": "Al telefono il 4 maggio"},
        headers=org.headers("agent"),
    )
    assert recorded.status_code == 200, recorded.text
    decision = recorded.json()["consent"]["marketing_email"]
    assert (
        decision["granted"] is False
        and decision["source"] == "phone"
        and decision["by"] == org.users["agent"]
        and decision["at"]
    )
    bad = client.post(
        url, json={"purpose": "marketing_email", "granted": True, "source": "telepathy"}, headers=org.headers("agent")
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "source"
    assert (
        client.post(url, json={"purpose": "x", "granted": True, "source": "phone"}, headers=org.headers()).json()[
            "errors"
        ][0]["field"]
        == "purpose"
    )
    assert (
        client.post(
            f"/api/v1/contacts/{contact_id}/consent",
            json={"purpose": "profiling", "granted": True, "source": "email"},
            headers=other_org.headers(),
        ).status_code
        == 404
    )
    timeline = client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=org.headers()).json()
    assert (
        timeline[0]["kind"] == "consent.changed"
        and timeline[0]["data"]["purpose"] == "marketing_email"
        and timeline[0]["data"]["granted"] is False
    )
    with unit_of_work(rt.sessions) as session:
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.tenant_id == org.tenant_id, AuditEntry.action == "contact.consent")
        ).all()
    assert [(a.user_id, a.target_id, a.data["source"]) for a in audit] == [(org.users["agent"], contact_id, "phone")]
    # From the panel: a missing decision is an error next to the field; a valid change re-renders the panel.
    browser = fresh()
    csrf = login(browser, org, "agent")
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    panel = f"/conversations/{conversation_id}/consent"
    missing = browser.post(panel, data={"purpose": "profiling", "source": "chat"}, headers=hx)
    assert (
        missing.status_code == 422
        and 'id="consent-granted-error"' in missing.text
        and translate("composer.consent_choose_decision", "en") in missing.text
    )
    saved = browser.post(panel, data={"purpose": "profiling", "granted": "1", "source": "chat"}, headers=hx)
    assert saved.status_code == 200 and saved.headers["hx-trigger"] == "raccordo:head"
    row = re.search(r'<tr data-purpose="profiling" data-granted="1">.*?</tr>', saved.text, re.S).group(0)
    assert "granted" in row and "in a chat" in row and "Agent User" in row
    assert (
        re.search(r'<tr data-purpose="marketing_email" data-granted="0">', saved.text)
        and "Consent changed" in saved.text
    )
    assert (
        browser.post(panel, data={"purpose": "profiling", "granted": "1", "source": "chat"}).status_code == 403
    )  # CSRF
    theirs, _ = _conversation(client, other_org)
    assert (
        browser.post(
            f"/conversations/{theirs}/consent",
            data={"purpose": "profiling", "granted": "1", "source": "chat"},
            headers=hx,
        ).status_code
        == 404
    )


# --- merge suggestions in the panel -------------------------------------------------------------------


def test_merge_from_the_panel_by_role_and_scoped(client, rt, org, other_org, fresh):
    conversation_id, contact_id = _conversation(client, org, name="Carla Neri")
    phone = f"+39 347 {uuid.uuid4().int % 10_000_000:07d}"
    _, twin_id = _conversation(client, org, name="Carla Neri", phone=phone)
    suggestions = client.get(
        "/api/v1/contacts/merge-suggestions", params={"contact_id": contact_id}, headers=org.headers()
    ).json()
    assert len(suggestions) == 1
    suggestion_id = suggestions[0]["id"]
    agent = fresh()
    hx = {"X-CSRF-Token": login(agent, org, "agent"), "HX-Request": "true"}
    page = agent.get(f"/conversations/{conversation_id}").text
    candidate = re.search(
        rf'<li class="merge-candidate" data-suggestion-id="{suggestion_id}" data-contact-id="{twin_id}">.*?</p>',
        page,
        re.S,
    )
    assert candidate and "same name" in candidate.group(0) and "50% likely" in candidate.group(0)
    assert (
        re.search(r'data-action="merge" disabled', page) and "Only supervisors and above can merge customers." in page
    )
    refused = agent.post(
        f"/conversations/{conversation_id}/merge", data={"suggestion_id": str(suggestion_id)}, headers=hx
    )
    assert refused.status_code == 422 and 'id="merge-error"' in refused.text
    assert client.get(f"/api/v1/contacts/{twin_id}", headers=org.headers()).json()["id"] == twin_id, "nothing merged"
    supervisor = fresh()
    hx = {"X-CSRF-Token": login(supervisor, org, "supervisor"), "HX-Request": "true"}
    # Another tenant's suggestion, or one not about this contact, is a 404.
    theirs_conversation, theirs_contact = _conversation(client, other_org, name="Carla Neri")
    _conversation(client, other_org, name="Carla Neri")
    theirs = client.get(
        "/api/v1/contacts/merge-suggestions", params={"contact_id": theirs_contact}, headers=other_org.headers()
    ).json()[0]["id"]
    assert (
        supervisor.post(
            f"/conversations/{conversation_id}/merge", data={"suggestion_id": str(theirs)}, headers=hx
        ).status_code
        == 404
    )
    assert (
        supervisor.post(
            f"/conversations/{theirs_conversation}/merge", data={"suggestion_id": str(suggestion_id)}, headers=hx
        ).status_code
        == 404
    )
    merged = supervisor.post(
        f"/conversations/{conversation_id}/merge", data={"suggestion_id": str(suggestion_id)}, headers=hx
    )
    assert merged.status_code == 200 and merged.headers["hx-trigger"] == "raccordo:head"
    assert phone.replace(" ", "") in merged.text and "merge-candidate" not in merged.text
    assert merged.text.count('<a href="/conversations/') == 2, "both customers' conversations are in the panel"
    assert client.get(f"/api/v1/contacts/{twin_id}", headers=org.headers()).json()["id"] == contact_id
    assert client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=org.headers()).json()[0]["kind"] == "merged"


def test_dismiss_from_the_panel(client, org, fresh):
    conversation_id, contact_id = _conversation(client, org, name="Dario Blu")
    _conversation(client, org, name="Dario Blu")
    suggestion_id = client.get(
        "/api/v1/contacts/merge-suggestions", params={"contact_id": contact_id}, headers=org.headers()
    ).json()[0]["id"]
    browser = fresh()
    hx = {"X-CSRF-Token": login(browser, org, "supervisor"), "HX-Request": "true"}
    dismissed = browser.post(f"/conversations/{conversation_id}/merge-suggestions/{suggestion_id}/dismiss", headers=hx)
    assert dismissed.status_code == 200 and "merge-candidate" not in dismissed.text
    assert (
        client.get(
            "/api/v1/contacts/merge-suggestions", params={"contact_id": contact_id}, headers=org.headers()
        ).json()
        == []
    )
    assert browser.get(f"/conversations/{conversation_id}/customer").status_code == 200
