"""The mail service under stress: a long poll keeps its mailbox lease, the SMTP receiver answers 250 as soon as
the raw message is stored (a slow message is processed afterwards), an unreachable IMAP host is retried with a
growing delay instead of a warning every 2 s."""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from raccordo.channels.email import poller as email_poller
from raccordo.channels.email import receiver as email_receiver
from raccordo.channels.email.poller import MailService, PolledInbox, acquire_lease
from raccordo.channels.models import Inbox, MailboxLease, RawInbound
from raccordo.platform.config import Settings
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from tests.mailserver import Dovecot, free_port
from tests.support.mail import customer_mail, wait_for

SUPPORT = "support@acme.example"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    try:
        server = Dovecot()
        server.add_user("support", "pw-support")
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start Dovecot for the email tests: {exc}", pytrace=False)
    yield server
    server.close()


def _runtime(rt: Runtime, **changes: object) -> Runtime:
    base = {
        "email_idle_seconds": 3.0,
        "email_poll_seconds": 0.5,
        "email_lease_seconds": 6.0,
        "email_scan_seconds": 0.3,
        "email_timeout_seconds": 5.0,
    }
    return Runtime.build(Settings(**{**rt.settings.model_dump(), **base, **changes}))


def _inbox(client, org, **settings: object) -> dict:
    body = {
        "address": SUPPORT,
        "imap_host": "127.0.0.1",
        "imap_security": "none",
        "imap_username": "support",
        **settings,
    }
    response = client.post(
        "/api/v1/inboxes",
        json={"name": "Assistenza", "channel": "email", "settings": body, "secrets": {"imap_password": "pw-support"}},
        headers=org.headers(),
    )
    assert response.status_code == 201, response.text
    return response.json()


def _polled(rt: Runtime, inbox: dict) -> PolledInbox:
    with unit_of_work(rt.sessions) as session:
        return PolledInbox(inbox["id"], session.get_one(Inbox, inbox["id"]).tenant_id, inbox["identifier"])


def test_a_long_poll_keeps_its_lease(client, rt, org, dovecot, monkeypatch):
    inbox = _inbox(client, org, imap_port=dovecot.port)
    dovecot.append("support", customer_mail("Lento", "Un messaggio lento.").as_bytes())
    release, started = threading.Event(), threading.Event()
    real_process = email_poller.process_raw_many

    def slow_process(runtime, payloads):  # a batch that takes longer than the lease to process
        started.set()
        release.wait(60)
        return real_process(runtime, payloads)

    monkeypatch.setattr(email_poller, "process_raw_many", slow_process)
    runtime = _runtime(rt, email_lease_seconds=1.5)
    service = MailService(runtime, owner="worker-a")
    service.start()
    try:
        assert started.wait(30), "the poll began"
        began = datetime.now(UTC)
        polled = _polled(rt, inbox)
        # Until well past the lease's length, another worker never takes the mailbox.
        while datetime.now(UTC) < began + timedelta(seconds=3 * runtime.settings.email_lease_seconds):
            assert not acquire_lease(runtime, polled, "worker-b"), "another worker took the mailbox during a long poll"
            time.sleep(0.1)
    finally:
        release.set()
        service.stop()
        runtime.close()
        client.patch(f"/api/v1/inboxes/{inbox['id']}", json={"active": False}, headers=org.headers())


def test_smtp_receiver_answers_250_before_processing(client, rt, org, monkeypatch):
    response = client.post(
        "/api/v1/inboxes",
        json={"name": "Inoltro", "channel": "email", "settings": {"address": "inoltro@acme.example"}},
        headers=org.headers(),
    )
    assert response.status_code == 201, response.text
    inbox = response.json()
    release = threading.Event()
    real_process = email_receiver.process_raw

    def slow_process(runtime, payload):
        release.wait(60)
        return real_process(runtime, payload)

    monkeypatch.setattr(email_receiver, "process_raw", slow_process)
    runtime = _runtime(rt, smtp_receiver_port=free_port(), smtp_receiver_host="127.0.0.1", email_polling=False)
    service = MailService(runtime)
    service.start()
    try:
        mail = customer_mail("Inoltrata", "Via SMTP.", to=f"{inbox['identifier']}@raccordo.example")
        with smtplib.SMTP("127.0.0.1", service.receiver_port, timeout=10) as smtp:
            refused = smtp.send_message(mail)
        assert refused == {}
        with unit_of_work(rt.sessions) as session:
            rows = session.scalars(select(RawInbound).where(RawInbound.inbox_id == inbox["id"])).all()
            assert [r.status for r in rows] == ["pending"], "stored and acknowledged while processing has not finished"
        release.set()
        wait_for(lambda: _statuses(rt, inbox["id"]) == ["processed"], what="processing after the 250")
    finally:
        release.set()
        service.stop()
        runtime.close()


def _statuses(rt: Runtime, inbox_id: int) -> list[str]:
    with unit_of_work(rt.sessions) as session:
        return list(session.scalars(select(RawInbound.status).where(RawInbound.inbox_id == inbox_id)))


def test_an_unreachable_imap_host_is_retried_with_a_growing_delay(client, rt, org, caplog):
    inbox = _inbox(client, org, imap_port=free_port())
    runtime = _runtime(rt, email_timeout_seconds=1.0)
    service = MailService(runtime)
    caplog.set_level(logging.DEBUG, logger="raccordo.channels.email.poller")
    service.start()
    try:
        wait_for(lambda: _lease_error(rt, inbox["id"]), what="the first failure")
        first = time.monotonic()
        # A time condition, not a fixed sleep: 7 s after the first failure, there was one attempt (next in 10 s).
        wait_for(lambda: time.monotonic() - first > 7, timeout=30, what="time to pass")
        attempts = [r for r in caplog.records if f"inbox {inbox['id']}:" in r.getMessage()]
        assert len(attempts) == 1, [(r.levelname, r.getMessage()[:60]) for r in attempts]
        assert attempts[0].levelname == "WARNING" and "next in 10 s" in attempts[0].getMessage()
        assert [email_poller.retry_delay(n) for n in (1, 2, 3, 7, 30)] == [10.0, 20.0, 40.0, 600.0, 600.0]
    finally:
        service.stop()
        runtime.close()
        client.patch(f"/api/v1/inboxes/{inbox['id']}", json={"active": False}, headers=org.headers())


def _lease_error(rt: Runtime, inbox_id: int) -> str | None:
    with unit_of_work(rt.sessions) as session:
        lease = session.get(MailboxLease, inbox_id)
        return lease.last_error if lease else None
