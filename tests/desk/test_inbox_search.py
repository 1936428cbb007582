"""The inbox's views (mine, unassigned, my teams, all) by role, the queue filter, and full-text search
over conversations and contacts, on the pages and the REST API, on both backends: what is found
(message text, subject, name, email, phone, Italian accents, prefixes while typing), what is not
(another tenant's data, conversations outside an agent's views), and that the index follows
replies, notes, contact edits and merges."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.pages import login, set_language


def ingest(client, org, text: str, *, name: str, subject: str | None = None, **identities: str) -> int:
    """One inbound message from a new contact; returns its conversation id."""
    inbox = create_api_inbox(client, org.headers("admin"))
    payload = customer_message(f"m-{uuid.uuid4().hex}", text, name=name, **identities)
    if subject:
        payload["subject"] = subject
    assert post_inbound(client, inbox, payload).status_code == 200
    found = client.get("/api/v1/conversations", params={"status": "open", "limit": 1}, headers=org.headers()).json()[
        "items"
    ][0]
    return found["id"]


def found(client, org, q: str, role: str = "owner", **params) -> set[int]:
    response = client.get("/api/v1/conversations", params={"q": q, "limit": 100, **params}, headers=org.headers(role))
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()["items"]}


@pytest.fixture
def two(client, org):
    """Giulia's washing machine (email + Italian mobile) and Marco's toaster."""
    suffix = uuid.uuid4().hex[:6]
    giulia = ingest(
        client,
        org,
        "La lavatrice perde acqua, perché? Grazie",
        name="Giulia Bianchi",
        subject="Lavatrice guasta",
        email=f"giulia.b{suffix}@example.it",
        phone=f"+39 333 {int(suffix, 16) % 10_000_000:07d}",
    )
    marco = ingest(
        client, org, "Il tostapane non si accende più", name="Marco Verdi", email=f"marco{suffix}@example.com"
    )
    contact = client.get(f"/api/v1/conversations/{giulia}", headers=org.headers()).json()["contact_id"]
    return {
        "giulia": giulia,
        "marco": marco,
        "suffix": suffix,
        "phone": f"{int(suffix, 16) % 10_000_000:07d}",
        "giulia_contact": contact,
    }


def test_search_finds_text_subject_name_email_phone_accents_and_prefixes(client, org, two):
    g, m, suffix = two["giulia"], two["marco"], two["suffix"]
    assert found(client, org, "lavatrice") == {g}
    assert found(client, org, "guasta") == {g}  # the subject
    assert found(client, org, "tostapane") == {m}
    # Accents either way, and case.
    assert found(client, org, "perche") == {g}
    assert found(client, org, "PERCHÉ") == {g}
    assert found(client, org, "piu") == {m}
    # As the user types, the last word is a prefix; a trailing space ends it.
    assert found(client, org, "lav") == {g}
    assert found(client, org, "perde acq") == {g}
    assert found(client, org, "lav ") == set()
    # The contact: name, email (whole or in part), phone in any usual writing.
    assert found(client, org, "giulia bianchi") == {g}
    assert found(client, org, "Verdi") == {m}
    assert found(client, org, f"giulia.b{suffix}@example.it") == {g}
    assert found(client, org, f"giulia.b{suffix}@exa") == {g}
    assert found(client, org, f"+39 333 {two['phone']}") == {g}
    assert found(client, org, f"333 {two['phone'][:3]}") == {g}
    assert found(client, org, f"0039333{two['phone']}") == set()  # not how the number is written: no false hit
    # Nothing to match, and words from different documents do not combine into a hit.
    assert found(client, org, "frigorifero") == set()
    assert found(client, org, "!!!") == set()
    # The search endpoint: contacts with their latest conversation, and conversations.
    body = client.get("/api/v1/search", params={"q": "bianchi"}, headers=org.headers("agent")).json()
    assert [(h["contact"]["name"], h["latest_conversation_id"], h["conversations"]) for h in body["contacts"]] == [
        ("Giulia Bianchi", g, 1)
    ]
    assert [c["id"] for c in body["conversations"]] == [g]
    # Bad input is a precise 422 naming the parameter.
    assert client.get("/api/v1/search", params={"q": ""}, headers=org.headers()).status_code == 422
    long = client.get("/api/v1/conversations", params={"q": "x" * 201}, headers=org.headers())
    assert long.status_code == 422 and "q" in long.text


def test_search_on_the_inbox_page_filters_the_list_and_shows_contacts(client, fresh, org, two):
    browser = fresh()
    login(browser, org, "supervisor")
    page = browser.get("/inbox", params={"view": "all", "status": "any", "q": "lavatrice"})
    assert page.status_code == 200
    assert 'id="inbox-search"' in page.text and 'value="lavatrice"' in page.text
    assert (
        f'data-conversation-id="{two["giulia"]}"' in page.text
        and f'data-conversation-id="{two["marco"]}"' not in page.text
    )
    fragment = browser.get(
        "/inbox/list", params={"view": "all", "status": "any", "q": "verdi"}, headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert (
        f'data-conversation-id="{two["marco"]}"' in fragment.text
        and f'data-conversation-id="{two["giulia"]}"' not in fragment.text
    )
    # The contact hit links to the contact's latest conversation, keeping the search.
    assert (
        'class="contact-hits"' in fragment.text
        and f'href="/conversations/{two["marco"]}?' in fragment.text
        and "q=verdi" in fragment.text
    )
    # The live refresh of the list keeps the search.
    assert 'hx-get="/inbox/list?view=all&amp;status=any&amp;q=verdi' in fragment.text
    # Italian labels.
    set_language(client.app.state.runtime, org.users["supervisor"], "it")
    assert "Cerca conversazioni e contatti" in browser.get("/inbox").text


def test_another_tenants_data_is_never_found(client, org, other_org, two):
    theirs = ingest(
        client,
        other_org,
        "lavatrice segreta dell'altra azienda",
        name="Giulia Bianchi",
        email=f"x{two['suffix']}@example.org",
    )
    assert found(client, org, "segreta") == set()
    assert found(client, org, "lavatrice") == {two["giulia"]}
    assert found(client, other_org, "lavatrice") == {theirs}
    hits = client.get("/api/v1/search", params={"q": "giulia"}, headers=org.headers()).json()
    assert [h["contact"]["id"] for h in hits["contacts"]] == [two["giulia_contact"]]
    assert found(client, other_org, f"giulia.b{two['suffix']}") == set()


def test_views_by_role_including_my_teams_and_agent_scoped_search(client, fresh, org, two):
    g, m = two["giulia"], two["marco"]
    admin, agent = org.headers("admin"), org.headers("agent")
    team = client.post(
        "/api/v1/teams", json={"name": f"Lavaggio {two['suffix']}", "member_ids": [org.users["agent"]]}, headers=admin
    ).json()["id"]
    assert client.patch(f"/api/v1/conversations/{g}", json={"team_id": team}, headers=admin).status_code == 200
    # Marco is the supervisor's now: no longer unassigned, not the agent's team.
    assert (
        client.patch(
            f"/api/v1/conversations/{m}",
            json={"assignee_id": org.users["supervisor"]},
            headers=org.headers("supervisor"),
        ).status_code
        == 200
    )

    def ids(role, view):
        listed = client.get("/api/v1/conversations", params={"view": view, "limit": 100}, headers=org.headers(role))
        return {c["id"] for c in listed.json()["items"]}

    assert ids("agent", "teams") == {g}
    assert ids("supervisor", "teams") == set()  # not in the team
    assert ids("supervisor", "mine") == {m}
    assert {g, m} <= ids("supervisor", "all")
    forbidden = client.get("/api/v1/conversations", params={"view": "all"}, headers=agent)
    assert forbidden.status_code == 403 and "view" in forbidden.json()["detail"]
    assert client.get("/api/v1/conversations", params={"view": "everything"}, headers=agent).status_code == 422
    # Search: the agent finds their team's conversation, not the supervisor's; the supervisor finds both.
    assert found(client, org, "lavatrice", "agent") == {g}
    assert found(client, org, "tostapane", "agent") == set()
    assert found(client, org, "tostapane", "supervisor") == {m}
    assert client.get("/api/v1/search", params={"q": "tostapane"}, headers=agent).json()["conversations"] == []
    # The pages: an agent's tabs are mine / unassigned / my teams; "all" is refused.
    browser = fresh()
    login(browser, org, "agent")
    inbox = browser.get("/inbox")
    assert 'data-view="teams"' in inbox.text and 'data-view="all"' not in inbox.text and "My teams" in inbox.text
    teams = browser.get("/inbox/list", params={"view": "teams", "status": "any"})
    assert f'data-conversation-id="{g}"' in teams.text and f'data-conversation-id="{m}"' not in teams.text
    assert browser.get("/inbox", params={"view": "all"}).status_code == 403
    assert (
        f'data-conversation-id="{m}"'
        not in browser.get("/inbox/list", params={"view": "unassigned", "status": "any", "q": "tostapane"}).text
    )
    supervisor = fresh()
    login(supervisor, org, "supervisor")
    assert 'data-view="all"' in supervisor.get("/inbox").text


def test_queue_filter_on_the_api_and_the_page(client, fresh, org, two):
    admin = org.headers("admin")
    queue = client.post("/api/v1/queues", json={"name": f"Elettrodomestici {two['suffix']}"}, headers=admin).json()[
        "id"
    ]
    other = client.post("/api/v1/queues", json={"name": f"Altro {two['suffix']}"}, headers=admin).json()["id"]
    moved = client.post(
        f"/api/v1/conversations/{two['marco']}/transfer", json={"queue_id": queue, "note": "tostapane"}, headers=admin
    )
    assert moved.status_code == 200, moved.text

    def listed(queue_id):
        found = client.get("/api/v1/conversations", params={"queue_id": queue_id, "status": "open"}, headers=admin)
        return {c["id"] for c in found.json()["items"]}

    assert listed(queue) == {two["marco"]}
    assert listed(other) == set()
    assert client.get("/api/v1/conversations", params={"queue_id": 0}, headers=admin).status_code == 422
    browser = fresh()
    login(browser, org, "supervisor")
    page = browser.get("/inbox", params={"view": "all", "status": "any", "queue": str(queue)})
    assert 'id="filter-queue"' in page.text and f'<option value="{queue}" selected>' in page.text
    assert (
        f'data-conversation-id="{two["marco"]}"' in page.text
        and f'data-conversation-id="{two["giulia"]}"' not in page.text
    )
    assert (
        f'data-conversation-id="{two["giulia"]}"'
        in browser.get("/inbox/list", params={"view": "all", "status": "any", "queue": "nonsense"}).text
    )


def test_the_index_follows_replies_notes_contact_edits_and_merges(client, fresh, org, two):
    g, m = two["giulia"], two["marco"]
    owner, supervisor = org.headers(), org.headers("supervisor")
    reply = client.post(
        f"/api/v1/conversations/{g}/reply", json={"text": "Le spediamo il rimborso entro venerdì"}, headers=owner
    )
    assert reply.status_code == 201, reply.text
    assert found(client, org, "rimborso") == {g}
    assert found(client, org, "venerdi") == {g}
    note = client.post(
        f"/api/v1/conversations/{m}/notes", json={"text": "Cliente storico, guarnizione zanzibar"}, headers=owner
    )
    assert note.status_code == 201
    assert found(client, org, "zanzib") == {m}
    # A note through the page's composer is found too.
    browser = fresh()
    csrf = login(browser, org, "owner")
    assert (
        browser.post(
            f"/conversations/{g}/note", data={"text": "richiamare dopo le diciotto", "csrf_token": csrf}
        ).status_code
        == 200
    )
    assert found(client, org, "diciotto") == {g}
    # Renaming a contact: the new name is found, the old one no longer.
    contact = two["giulia_contact"]
    assert (
        client.patch(f"/api/v1/contacts/{contact}", json={"name": "Giulietta Capuleti"}, headers=owner).status_code
        == 200
    )
    assert found(client, org, "capuleti") == {g}
    assert found(client, org, "bianchi") == set()
    added = client.post(
        f"/api/v1/contacts/{contact}/identities",
        json={"kind": "email", "value": f"verona{two['suffix']}@example.it"},
        headers=owner,
    )
    assert added.status_code == 201, added.text
    assert found(client, org, f"verona{two['suffix']}") == {g}
    # Merging Marco into Giulietta: Marco's identities now find the survivor and both conversations.
    marco_contact = client.get(f"/api/v1/conversations/{m}", headers=owner).json()["contact_id"]
    assert (
        client.post(
            f"/api/v1/contacts/{contact}/merge", json={"other_id": marco_contact}, headers=supervisor
        ).status_code
        == 200
    )
    assert found(client, org, f"marco{two['suffix']}") == {g, m}
    hits = client.get("/api/v1/search", params={"q": f"marco{two['suffix']}"}, headers=owner).json()["contacts"]
    assert [h["contact"]["id"] for h in hits] == [contact] and hits[0]["conversations"] == 2
    assert found(client, org, "verdi") == set()  # the merged-away contact's name went with it


def test_a_rolled_back_savepoint_keeps_the_rest_of_the_transaction_indexed(client, rt, org):
    """Routing and the demo use savepoints; rolling one back must not drop the outer changes' entries."""
    from sqlalchemy.exc import IntegrityError

    from raccordo.platform.store.db import unit_of_work
    from raccordo.record.models import Contact, ContactIdentity

    with unit_of_work(rt.sessions) as session:
        session.add(Contact(tenant_id=org.tenant_id, name="Ottavio Savepoint"))
        session.flush()
        try:
            with session.begin_nested():
                session.add(
                    ContactIdentity(tenant_id=org.tenant_id, contact_id=2**62, kind="email", value="nobody@example.com")
                )
                session.flush()  # no such contact: the savepoint rolls back
        except IntegrityError:
            pass
    hits = client.get("/api/v1/search", params={"q": "ottavio savep"}, headers=org.headers()).json()["contacts"]
    assert [h["contact"]["name"] for h in hits] == ["Ottavio Savepoint"]
