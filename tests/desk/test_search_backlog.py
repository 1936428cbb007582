"""An ingested message's search entry is written after its commit (``desk.search_backlog``): it is
searchable when the webhook answers, a crash between the commit and the entry leaves a durable
marker that the worker's sweep writes, and writing is idempotent; SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update

from raccordo.bootstrap.worker import run_once
from raccordo.desk.models import SearchEntry
from raccordo.desk.search_backlog import index_pending, sweep
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Message
from tests.helpers import create_api_inbox, customer_message, post_inbound


def _ingest(client, org, text):
    inbox = create_api_inbox(client, org.headers())
    response = post_inbound(
        client, inbox, customer_message(f"m-{uuid.uuid4().hex[:8]}", text, email=f"{uuid.uuid4().hex[:6]}@example.com")
    )
    assert response.status_code == 200, response.text
    return response.json()["message_ids"][0]


def _entries(rt, message_id):
    with unit_of_work(rt.sessions) as session:
        return session.scalar(select(func.count()).select_from(SearchEntry).where(SearchEntry.message_id == message_id))


def _pending(rt, message_id):
    with unit_of_work(rt.sessions) as session:
        return session.scalar(select(Message.search_pending).where(Message.id == message_id))


def _hits(client, org, word):
    body = client.get("/api/v1/search", params={"q": word}, headers=org.headers()).json()
    return body["conversations"]


def test_an_ingested_message_is_searchable_when_the_webhook_answers(client, rt, org):
    word = f"frigorifero{uuid.uuid4().hex[:6]}"
    message_id = _ingest(client, org, f"Il {word} non raffredda")
    assert _pending(rt, message_id) is None, "the marker is cleared with the entry written"
    assert _entries(rt, message_id) == 1
    assert len(_hits(client, org, word)) == 1


def test_an_entry_lost_by_a_crash_is_written_by_the_worker_sweep_once(client, rt, org):
    word = f"lavastoviglie{uuid.uuid4().hex[:6]}"
    message_id = _ingest(client, org, f"La {word} perde acqua")
    # The state a crash after the message's commit leaves: the marker set, no entry.
    with unit_of_work(rt.sessions) as session:
        session.execute(delete(SearchEntry).where(SearchEntry.message_id == message_id))
        session.execute(update(Message).where(Message.id == message_id).values(search_pending=True))
    assert _hits(client, org, word) == []
    assert sweep(rt.sessions, older_than=timedelta(days=1)) == 0 and _pending(rt, message_id), "too recent to sweep"
    assert sweep(rt.sessions, older_than=timedelta(0)) >= 1
    assert _entries(rt, message_id) == 1 and _pending(rt, message_id) is None
    assert len(_hits(client, org, word)) == 1
    # Again, from the sweep, the backlog or both at once: nothing is written twice.
    assert sweep(rt.sessions, older_than=timedelta(0)) == 0
    with unit_of_work(rt.sessions) as session:
        assert index_pending(session, [message_id]) == 0
    assert _entries(rt, message_id) == 1


def test_two_writers_claiming_the_same_messages_write_each_entry_once(client, rt, org):
    ids = [_ingest(client, org, f"Parola{n} {uuid.uuid4().hex[:6]}") for n in range(3)]
    with unit_of_work(rt.sessions) as session:
        session.execute(delete(SearchEntry).where(SearchEntry.message_id.in_(ids)))
        session.execute(update(Message).where(Message.id.in_(ids)).values(search_pending=True))
    written: list[int] = []

    def write() -> None:
        with unit_of_work(rt.sessions) as session:
            written.append(index_pending(session, ids))

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(written) == [0, 3]
    assert [_entries(rt, message_id) for message_id in ids] == [1, 1, 1]


def test_the_worker_pass_runs_the_sweep(client, rt, org):
    message_id = _ingest(client, org, f"Forno {uuid.uuid4().hex[:6]}")
    with unit_of_work(rt.sessions) as session:
        session.execute(delete(SearchEntry).where(SearchEntry.message_id == message_id))
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(search_pending=True, created_at=datetime.now(UTC) - timedelta(minutes=5))
        )
    run_once(rt)
    assert _entries(rt, message_id) == 1 and _pending(rt, message_id) is None
