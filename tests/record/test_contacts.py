"""Contacts over the API: search by any identity form, suggestions, merge with audit and both timelines."""

from __future__ import annotations

from tests.helpers import create_api_inbox, post_inbound


def _contact(client, org, **body):
    response = client.post("/api/v1/contacts", json=body, headers=org.headers("agent"))
    assert response.status_code == 201, response.text
    return response.json()


def test_search_finds_contacts_by_any_written_form_of_an_identity(client, org):
    contact = _contact(
        client,
        org,
        name="Niccolò Ferrari",
        identities=[{"kind": "phone", "value": "347 555 1212"}, {"kind": "email", "value": "Nicco@Example.it"}],
    )
    for query in (
        "+39 347 555 1212",
        "00393475551212",
        "nicco@example.it",
        "NICCO@EXAMPLE.IT",
        "niccolo",
        "Ferrari Niccolò",
    ):
        found = client.get("/api/v1/contacts", params={"q": query}, headers=org.headers("agent")).json()
        assert [c["id"] for c in found] == [contact["id"]], query
    assert client.get("/api/v1/contacts", params={"q": "nobody@nowhere.it"}, headers=org.headers("agent")).json() == []


def test_creating_with_a_known_identity_returns_the_existing_contact(client, org):
    first = _contact(client, org, name="Laura Neri", identities=[{"kind": "email", "value": "laura@example.com"}])
    second = _contact(
        client,
        org,
        identities=[{"kind": "email", "value": "LAURA@example.com"}, {"kind": "telegram", "value": "99887766"}],
    )
    assert second["id"] == first["id"]
    assert {i["kind"] for i in second["identities"]} == {"email", "telegram"}


def test_identity_of_another_contact_is_a_conflict(client, org):
    a = _contact(client, org, identities=[{"kind": "email", "value": "a1@example.com"}])
    b = _contact(client, org, identities=[{"kind": "email", "value": "b1@example.com"}])
    response = client.post(
        f"/api/v1/contacts/{b['id']}/identities",
        json={"kind": "email", "value": "A1@example.com"},
        headers=org.headers("agent"),
    )
    assert response.status_code == 409
    assert str(a["id"]) in response.json()["detail"]


def test_likely_duplicates_become_suggestions_and_merge_moves_everything(client, org):
    inbox = create_api_inbox(client, org.headers())
    post_inbound(
        client,
        inbox,
        {
            "message_id": "s-1",
            "contact": {
                "name": "Giulia Bianchi",
                "identities": [{"kind": "email", "value": "giulia.bianchi@gmail.com"}],
            },
            "text": "Prima",
        },
    )
    post_inbound(
        client,
        inbox,
        {
            "message_id": "s-2",
            "contact": {"name": "BIANCHI Giulia", "identities": [{"kind": "phone", "value": "+39 333 444 5566"}]},
            "text": "Seconda",
        },
    )
    suggestions = client.get("/api/v1/contacts/merge-suggestions", headers=org.headers("agent")).json()
    assert len(suggestions) == 1 and "same_name" in suggestions[0]["reasons"]
    survivor, merged = suggestions[0]["contact_a_id"], suggestions[0]["contact_b_id"]

    response = client.post(
        f"/api/v1/contacts/{survivor}/merge", json={"other_id": merged}, headers=org.headers("supervisor")
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert {i["kind"] for i in result["identities"]} == {"email", "phone"}
    # The merged id keeps answering with the survivor.
    assert client.get(f"/api/v1/contacts/{merged}", headers=org.headers()).json()["id"] == survivor
    conversations = client.get(f"/api/v1/contacts/{survivor}/conversations", headers=org.headers()).json()
    assert len(conversations) == 2
    texts = []
    for conversation in conversations:
        texts += [
            m["text"]
            for m in client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()
        ]
    assert sorted(texts) == ["Prima", "Seconda"]
    timeline = client.get(f"/api/v1/contacts/{survivor}/timeline", headers=org.headers()).json()
    kinds = [e["kind"] for e in timeline]
    assert "merged" in kinds and kinds.count("message") == 2
    assert client.get("/api/v1/contacts/merge-suggestions", headers=org.headers()).json() == []
    audit = client.get("/api/v1/audit", headers=org.headers("admin")).json()
    assert any(
        a["action"] == "contact.merge" and a["target_id"] == survivor and a["data"]["merged_id"] == merged
        for a in audit
    )
    # The merged contact's own record keeps a trace of where it went.
    from raccordo.platform.store.db import unit_of_work
    from raccordo.record.models import TimelineEvent

    rt = client.app.state.runtime
    with unit_of_work(rt.sessions) as session:
        trace = session.query(TimelineEvent).filter_by(contact_id=merged, kind="merged.into").one()
        assert trace.data["survivor_id"] == survivor
    again = client.post(
        f"/api/v1/contacts/{survivor}/merge", json={"other_id": merged}, headers=org.headers("supervisor")
    )
    assert again.status_code == 409


def test_one_message_claiming_two_contacts_identities_suggests_a_merge(client, org):
    a = _contact(client, org, identities=[{"kind": "email", "value": "claim-a@example.com"}])
    b = _contact(client, org, identities=[{"kind": "external", "value": "crm-claim-b"}])
    inbox = create_api_inbox(client, org.headers())
    post_inbound(
        client,
        inbox,
        {
            "message_id": "claim",
            "contact": {
                "identities": [
                    {"kind": "email", "value": "claim-a@example.com"},
                    {"kind": "external", "value": "crm-claim-b"},
                ]
            },
            "text": "x",
        },
    )
    suggestions = client.get(
        "/api/v1/contacts/merge-suggestions", params={"contact_id": a["id"]}, headers=org.headers()
    ).json()
    assert [(s["contact_a_id"], s["contact_b_id"]) for s in suggestions] == [
        (min(a["id"], b["id"]), max(a["id"], b["id"]))
    ]
    assert "identities_claimed_together" in suggestions[0]["reasons"]
    dismissed = client.post(
        f"/api/v1/contacts/merge-suggestions/{suggestions[0]['id']}/dismiss", headers=org.headers("supervisor")
    )
    assert dismissed.json()["status"] == "dismissed"


def test_update_attributes_consent_and_timeline(client, org):
    contact = _contact(
        client,
        org,
        name="Paolo",
        identities=[{"kind": "email", "value": "paolo@example.com"}],
        custom_attributes={"vip": True},
    )
    response = client.patch(
        f"/api/v1/contacts/{contact['id']}",
        json={
            "name": "Paolo Verdi",
            "language": "it",
            "custom_attributes": {"vip": None, "city": "Torino"},
            "consent": {"marketing_email": False},
        },
        headers=org.headers("agent"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["custom_attributes"] == {"city": "Torino"}
    assert body["consent"]["marketing_email"]["granted"] is False
    bad = client.patch(
        f"/api/v1/contacts/{contact['id']}", json={"consent": {"spam_me": True}}, headers=org.headers("agent")
    )
    assert bad.status_code == 422 and "marketing_email" in bad.json()["detail"]
    timeline = client.get(f"/api/v1/contacts/{contact['id']}/timeline", headers=org.headers()).json()
    change = next(e for e in timeline if e["kind"] == "attribute.changed")
    assert change["data"]["name"] == {"from": "Paolo", "to": "Paolo Verdi"}
