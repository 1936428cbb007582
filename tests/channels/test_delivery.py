"""The outbox: retries with backoff, permanent failures shown to the agent, leases recovered, crash
recovery of inbound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from raccordo.channels.domain.request import InboundRequest
from raccordo.channels.domain.retry import retry_after_seconds
from raccordo.channels.models import OutboxItem, RawInbound
from raccordo.channels.services.delivery import claim_due, deliver, run_once
from raccordo.channels.services.inbound import reprocess_pending, store_raw
from raccordo.platform.store.db import unit_of_work
from tests.helpers import create_api_inbox, customer_message, post_inbound


def _conversation_with_reply(client, org, callback_url, message_id):
    inbox = create_api_inbox(client, org.headers(), callback_url=callback_url)
    post_inbound(client, inbox, customer_message(message_id, email=f"{message_id}@example.com"))
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/reply", json={"text": "Risposta"}, headers=org.headers("agent")
    ).json()
    return conversation, reply


def _make_due(rt, message_id):
    with unit_of_work(rt.sessions) as session:
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.message_id == message_id)
            .values(due_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_server_error_is_retried_then_delivered_once(client, rt, org, callback):
    callback.status = 503
    conversation, reply = _conversation_with_reply(client, org, callback.url, "d-retry")
    run_once(rt)
    message = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()[-1]
    assert message["delivery_status"] == "queued" and "503" in message["delivery_error"]
    callback.status = 200
    _make_due(rt, reply["id"])
    run_once(rt)
    message = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()[-1]
    assert message["delivery_status"] == "sent" and message["delivery_error"] is None
    keys = {hit["headers"]["idempotency-key"] for hit in callback.received}
    assert len(callback.received) == 2 and len(keys) == 1, "a retry must carry the same idempotency key"
    assert run_once(rt) == 0


def test_client_error_is_permanent_and_shown(client, rt, org, callback):
    callback.status = 410
    conversation, _ = _conversation_with_reply(client, org, callback.url, "d-perm")
    run_once(rt)
    message = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()[-1]
    assert message["delivery_status"] == "failed" and "410" in message["delivery_error"]
    assert "delivery.failed" in [
        e["kind"]
        for e in client.get(f"/api/v1/conversations/{conversation['id']}/timeline", headers=org.headers()).json()
    ]


def test_unreachable_callback_retries_with_backoff(client, rt, org):
    _, reply = _conversation_with_reply(client, org, "http://127.0.0.1:9/unreachable", "d-down")
    run_once(rt)
    with unit_of_work(rt.sessions) as session:
        item = session.query(OutboxItem).filter_by(message_id=reply["id"]).one()
        assert item.status == "pending" and item.attempts == 1
        assert item.due_at > datetime.now(UTC)
        assert "unreachable" in item.last_error


def test_expired_lease_is_claimed_again(client, rt, org, callback):
    conversation, reply = _conversation_with_reply(client, org, callback.url, "d-lease")
    claimed = claim_due(rt)
    assert claimed, "the reply is due"
    # The worker "dies" here: nothing is sent, the lease is left to expire.
    assert claim_due(rt) == []
    later = datetime.now(UTC) + timedelta(minutes=5)
    again = claim_due(rt, now=later)  # other tests' retries may be due by then too
    assert set(claimed) <= set(again)
    for outbox_id in again:
        deliver(rt, outbox_id)
    assert len(callback.received) == 1
    message = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()[-1]
    assert message["id"] == reply["id"] and message["delivery_status"] == "sent"


def test_pending_raw_payload_is_processed_after_a_crash(client, rt, org):
    import json

    from raccordo.channels import signing

    inbox = create_api_inbox(client, org.headers())
    body = json.dumps(customer_message("crash-1", email="crash@example.com")).encode()
    headers = {k.lower(): v for k, v in signing.sign(inbox.secret, body).items()}
    raw_id = store_raw(
        rt, inbox.identifier, InboundRequest.of("POST", "http://testserver/hook", headers, body)
    ).raw_id  # stored, then the process "crashed"
    # Taken once the lease of the process that stored it has expired (tests/channels/test_inbound_hardening.py).
    after_lease = datetime.now(UTC) + timedelta(seconds=rt.settings.inbound_lease_seconds + 1)
    assert reprocess_pending(rt, older_than=timedelta(0), now=after_lease) >= 1
    with unit_of_work(rt.sessions) as session:
        raw = session.get(RawInbound, raw_id)
        assert raw.status == "processed" and len(raw.message_ids) == 1
    assert client.get("/api/v1/contacts", params={"q": "crash@example.com"}, headers=org.headers()).json()


def test_rate_limited_send_waits_the_providers_retry_after(client, rt, org, callback):
    callback.status, callback.extra_headers = 429, {"Retry-After": "600"}
    _, reply = _conversation_with_reply(client, org, callback.url, "d-429")
    before = datetime.now(UTC)
    run_once(rt)
    with unit_of_work(rt.sessions) as session:
        item = session.query(OutboxItem).filter_by(message_id=reply["id"]).one()
        assert item.status == "pending" and item.attempts == 1
        # The outbox's own first backoff is 5 s; the provider asked for ten minutes.
        assert item.due_at - before >= timedelta(seconds=600)


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Tue, 08 Dec 2026 12:01:30 GMT", now) == 90.0
    assert retry_after_seconds("Tue, 08 Dec 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None
