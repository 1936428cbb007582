"""Fixtures of the email channel tests: a private Dovecot (IMAP) and test MTA (SMTP) per module, an email
inbox on the support mailbox, and a worker-like runtime with short mail timings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from raccordo.platform.config import Settings
from raccordo.platform.runtime import Runtime
from tests.mailserver import Dovecot, TestMTA
from tests.support.email_channel import BOUNCING, VACATION, clear_mailbox
from tests.support.mail import CUSTOMER, SUPPORT


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    try:
        server = Dovecot(tls=True)
        for user in ("support", "customer", "vacation"):
            server.add_user(user, f"pw-{user}")
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start Dovecot for the email tests: {exc}", pytrace=False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def mta(dovecot: Dovecot) -> Iterator[TestMTA]:
    server = TestMTA(
        dovecot,
        {SUPPORT: "support", CUSTOMER: "customer", VACATION: "vacation"},
        vacation={VACATION},
        bounce={BOUNCING},
    ).start()
    yield server
    server.stop()


@pytest.fixture
def inbox(client, org, dovecot, mta) -> Iterator[dict]:
    """An email inbox on the support mailbox; the mailbox starts empty and the inbox is deactivated after."""
    for user in ("support", "customer", "vacation"):
        clear_mailbox(dovecot, user)
    settings = {
        "address": SUPPORT,
        "from_name": "Acme Assistenza",
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "imap_security": "none",
        "imap_username": "support",
        "smtp_host": "127.0.0.1",
        "smtp_port": mta.port,
        "smtp_security": "none",
    }
    response = client.post(
        "/api/v1/inboxes",
        json={
            "name": "Assistenza",
            "channel": "email",
            "settings": settings,
            "secrets": {"imap_password": "pw-support"},
        },
        headers=org.headers(),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert "imap_password" not in body["settings"] and "thread_secret" in body["secret_names"]
    yield body
    client.patch(f"/api/v1/inboxes/{body['id']}", json={"active": False}, headers=org.headers())


@pytest.fixture
def mail_rt(rt: Runtime) -> Iterator[Runtime]:
    """A second runtime on the same database, as a worker process would have, with short mail timings."""
    settings = Settings(
        **{
            **rt.settings.model_dump(),
            "email_idle_seconds": 3.0,
            "email_poll_seconds": 0.5,
            "email_lease_seconds": 6.0,
            "email_scan_seconds": 0.3,
            "email_timeout_seconds": 5.0,
        }
    )
    runtime = Runtime.build(settings)
    yield runtime
    runtime.close()
