"""A poller's batch processed in one transaction (``channels/services/inbound_batch``): each payload has
its own savepoint, so a malformed one, a redelivered one and an over-sized attachment fail or
resolve alone while the others are stored; every raw row records its outcome; SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import uuid

from sqlalchemy import func, select

from raccordo.channels import signing
from raccordo.channels.domain.request import InboundRequest
from raccordo.channels.models import RawInbound
from raccordo.channels.services.inbound import store_raw_many
from raccordo.channels.services.inbound_batch import process_raw_many
from raccordo.desk.models import SearchEntry
from raccordo.platform.errors import RaccordoError
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Message
from tests.helpers import create_api_inbox, customer_message, post_inbound


def _request(inbox, payload):
    body = json.dumps(payload).encode()
    headers = {
        "content-type": "application/json",
        **{k.lower(): v for k, v in signing.sign(inbox.secret, body).items()},
    }
    return InboundRequest("POST", f"http://testserver{inbox.url}", headers, body)


def test_a_batch_stores_the_good_payloads_and_records_each_failure_on_its_row(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    known = f"m-{uuid.uuid4().hex[:8]}"
    assert post_inbound(client, inbox, customer_message(known, email="anna@example.com")).status_code == 200
    big = customer_message(f"m-{uuid.uuid4().hex[:8]}", email="paolo@example.com")
    big["attachments"] = [
        {
            "filename": "big.bin",
            "content_type": "application/octet-stream",
            "data_base64": base64.b64encode(b"x" * (rt.settings.max_attachment_bytes + 1)).decode(),
        }
    ]
    payloads = [
        customer_message(f"m-{uuid.uuid4().hex[:8]}", "Primo", email="anna@example.com"),
        customer_message(known, email="anna@example.com"),  # redelivered: the one stored before
        {"message_id": "broken"},  # malformed: no contact
        big,  # over the attachment limit
        customer_message(f"m-{uuid.uuid4().hex[:8]}", "Secondo", email="luca@example.com"),
        customer_message(f"m-{uuid.uuid4().hex[:8]}", "Terzo", email="anna@example.com"),
    ]
    stored = store_raw_many(rt, inbox.identifier, [_request(inbox, p) for p in payloads])
    results = process_raw_many(rt, stored)

    assert [type(r).__name__ for r in results] == [
        "InboundOutcome",
        "InboundOutcome",
        type(results[2]).__name__,
        type(results[3]).__name__,
        "InboundOutcome",
        "InboundOutcome",
    ]
    assert isinstance(results[2], RaccordoError) and isinstance(results[3], RaccordoError)
    assert results[1].duplicates == 1
    with unit_of_work(rt.sessions) as session:
        rows = {
            r.id: r for r in session.scalars(select(RawInbound).where(RawInbound.id.in_([s.raw_id for s in stored])))
        }
        statuses = [rows[s.raw_id].status for s in stored]
        assert statuses == ["processed", "processed", "failed", "failed", "processed", "processed"]
        assert all(rows[s.raw_id].claimed_until is None and rows[s.raw_id].attempts >= 1 for s in stored)
        assert "attachment.too_large" in rows[stored[3].raw_id].error
        texts = session.scalars(
            select(Message.text)
            .where(Message.tenant_id == org.tenant_id, Message.inbox_id == inbox.id)
            .order_by(Message.id)
        ).all()
        assert texts == ["Buongiorno", "Primo", "Secondo", "Terzo"], "each message once, in order"
        assert set(results[0].message_ids + results[5].message_ids) <= set(
            session.scalars(select(Message.id).where(Message.inbox_id == inbox.id))
        )
        assert rows[stored[1].raw_id].message_ids == results[1].message_ids
        # The messages' search entries were written after the batch's commit (not at a savepoint's
        # release, while the batch still held SQLite's write lock): none is left to the sweep.
        pending = session.scalars(
            select(Message.id).where(Message.inbox_id == inbox.id, Message.search_pending.is_(True))
        ).all()
        assert pending == []
        indexed = session.scalar(
            select(func.count()).select_from(SearchEntry).where(SearchEntry.message_id.in_(results[0].message_ids))
        )
        assert indexed == 1


def test_processing_a_batch_again_stores_nothing_twice(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    payloads = [
        customer_message(f"m-{uuid.uuid4().hex[:8]}", f"Testo {n}", email=f"c{n}@example.com") for n in range(5)
    ]
    first = process_raw_many(rt, store_raw_many(rt, inbox.identifier, [_request(inbox, p) for p in payloads]))
    again = process_raw_many(rt, store_raw_many(rt, inbox.identifier, [_request(inbox, p) for p in payloads]))
    assert [o.message_ids for o in first] == [o.message_ids for o in again]
    assert all(o.duplicates == 1 for o in again)
    with unit_of_work(rt.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Message).where(Message.inbox_id == inbox.id)) == 5
