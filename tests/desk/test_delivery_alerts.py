"""A reply that could not be delivered: the banner at the top of the conversation, the agent's retry
(``POST /api/v1/messages/{id}/retry`` and the page's button: idempotent, role-checked, tenant-scoped),
and the REST reply without an inbox taking the first inbox that reaches the customer."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from raccordo.channels.models import OutboxItem
from raccordo.channels.services.delivery import run_once
from raccordo.platform.store.db import unit_of_work
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.orgs import make_org
from tests.support.pages import login


def _failed_reply(client, rt, org, callback):
    """A customer on an API inbox whose callback refuses the reply (a permanent 4xx): the reply fails."""
    callback.status = 410
    inbox = create_api_inbox(client, org.headers("admin"), callback_url=callback.url)
    email = f"r-{uuid.uuid4().hex[:8]}@example.com"
    post_inbound(client, inbox, customer_message(uuid.uuid4().hex, "Il pacco?", email=email))
    conversation = next(
        c
        for c in client.get("/api/v1/conversations", params={"inbox_id": inbox.id}, headers=org.headers()).json()[
            "items"
        ]
    )
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/reply", json={"text": "Arriva domani"}, headers=org.headers()
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["inbox_id"] == inbox.id
    _deliver_until(rt, client, org, reply.json()["id"], "failed")
    return conversation["id"], reply.json()["id"], inbox


def _message(client, org, message_id, conversation_id):
    messages = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=org.headers()).json()
    return next(m for m in messages if m["id"] == message_id)


def _deliver_until(rt, client, org, message_id, status):
    """Run the outbox until the message reaches ``status`` (other tests' sends may share a batch)."""
    for _ in range(20):
        run_once(rt)
        with unit_of_work(rt.sessions) as session:
            item = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id)).one()
            if item.status == {"failed": "failed", "sent": "sent"}[status]:
                return
    raise AssertionError(f"message {message_id} never became {status}")


def test_retry_requeues_the_same_send_once_and_the_banner_goes_when_it_is_delivered(client, rt, org, callback, fresh):
    conversation_id, message_id, _ = _failed_reply(client, rt, org, callback)
    browser = fresh()
    csrf = login(browser, org, "agent")
    banner = browser.get(f"/conversations/{conversation_id}/delivery-alerts").text
    assert f'data-message-id="{message_id}"' in banner and "Reply not delivered" in banner
    assert "callback answered HTTP 410" in banner, "no reason key: the technical error is shown"
    assert "No other channel reaches this customer." in banner
    page = browser.get(f"/conversations/{conversation_id}").text
    assert 'id="delivery-alerts"' in page and f'data-message-id="{message_id}"' in page

    callback.status = 200
    first = client.post(f"/api/v1/messages/{message_id}/retry", headers=org.headers("agent"))
    assert first.status_code == 200, first.text
    assert first.json()["delivery_status"] == "queued" and "410" in first.json()["delivery_error"]
    # A second click changes nothing: still one outbox row, the same key, due now.
    again = browser.post(
        f"/conversations/{conversation_id}/messages/{message_id}/retry",
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert again.status_code == 200, again.text
    assert "Reply not delivered yet: retrying" in again.text
    with unit_of_work(rt.sessions) as session:
        items = list(session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id)))
        assert [(i.status, i.attempts) for i in items] == [("pending", 0)]
    _deliver_until(rt, client, org, message_id, "sent")
    message = _message(client, org, message_id, conversation_id)
    assert message["delivery_status"] == "sent" and message["delivery_error"] is None
    keys = {hit["headers"]["idempotency-key"] for hit in callback.received}
    assert len(keys) == 1, "the retry carries the original idempotency key"
    assert (
        f'data-message-id="{message_id}"' not in browser.get(f"/conversations/{conversation_id}/delivery-alerts").text
    )
    # Delivered: nothing to retry.
    done = client.post(f"/api/v1/messages/{message_id}/retry", headers=org.headers())
    assert done.status_code == 409 and "already sent" in done.json()["detail"]


def test_retry_is_scoped_to_the_tenant_and_checked_against_the_role(client, rt, org, callback):
    conversation_id, message_id, _ = _failed_reply(client, rt, org, callback)
    stranger = make_org(rt)
    assert client.post(f"/api/v1/messages/{message_id}/retry", headers=stranger.headers()).status_code == 404
    # A teammate's conversation: the agent sees it (same team) but may not act on it; a supervisor may.
    team = client.post(
        "/api/v1/teams",
        json={"name": f"Resi {uuid.uuid4().hex[:6]}", "member_ids": [org.users["agent"], org.users["supervisor"]]},
        headers=org.headers(),
    )
    assert team.status_code == 201, team.text
    taken = client.patch(
        f"/api/v1/conversations/{conversation_id}",
        json={"team_id": team.json()["id"], "assignee_id": org.users["supervisor"]},
        headers=org.headers("supervisor"),
    )
    assert taken.status_code == 200, taken.text
    refused = client.post(f"/api/v1/messages/{message_id}/retry", headers=org.headers("agent"))
    assert refused.status_code == 403, refused.text
    assert client.post(f"/api/v1/messages/{message_id}/retry", headers=org.headers("supervisor")).status_code == 200
    # Only a reply: the customer's own message is not sendable.
    messages = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=org.headers()).json()
    inbound = next(m for m in messages if m["direction"] == "inbound")
    not_reply = client.post(f"/api/v1/messages/{inbound['id']}/retry", headers=org.headers())
    assert not_reply.status_code == 409 and "Only a reply" in not_reply.json()["detail"]
    assert client.post("/api/v1/messages/999999999/retry", headers=org.headers()).status_code == 404
    with unit_of_work(rt.sessions) as session:
        items = list(session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id)))
        assert [i.status for i in items] == ["pending"], "refused retries changed nothing; the allowed one requeued"


def test_the_banner_offers_the_next_channel_that_reaches_the_customer(client, rt, org, callback, fresh):
    conversation_id, message_id, failing = _failed_reply(client, rt, org, callback)
    other = create_api_inbox(client, org.headers("admin"), name="App assistenza", callback_url=callback.url)
    browser = fresh()
    login(browser, org, "agent")
    banner = browser.get(f"/conversations/{conversation_id}/delivery-alerts").text
    assert f'data-action="send-elsewhere" data-inbox-id="{other.id}" data-text="Arriva domani"' in banner
    assert "Send on API · App assistenza" in banner and f'data-message-id="{message_id}"' in banner
    assert failing.id != other.id


def test_a_rest_reply_without_an_inbox_goes_where_the_composer_would_send_it(client, rt, org, callback):
    """The customer wrote on an inbox that cannot deliver (no callback): the reply goes to the first inbox
    that reaches them, not to the dead end; with none at all, to the customer's inbox as before."""
    mute = create_api_inbox(client, org.headers("admin"), name="Import")
    email = f"d-{uuid.uuid4().hex[:8]}@example.com"
    post_inbound(client, mute, customer_message(uuid.uuid4().hex, "Ciao", email=email))
    conversation_id = client.get("/api/v1/conversations", params={"inbox_id": mute.id}, headers=org.headers()).json()[
        "items"
    ][0]["id"]
    url = f"/api/v1/conversations/{conversation_id}/reply"
    before = client.post(url, json={"text": "Prima"}, headers=org.headers())
    assert before.status_code == 201 and before.json()["inbox_id"] == mute.id, "nothing reaches them: as before"
    live = create_api_inbox(client, org.headers("admin"), name="App", callback_url=callback.url)
    after = client.post(url, json={"text": "Dopo"}, headers=org.headers())
    assert after.status_code == 201 and after.json()["inbox_id"] == live.id
