"""An email inbox's settings against real servers (a private Dovecot and aiosmtpd): the check naming
DNS/connect/TLS/login/folder failures, a working inbox with and without STARTTLS, validation field by
field, and the mail service running inside the worker.
"""

from __future__ import annotations

import pytest

from tests.mailserver import free_port
from tests.support.mail import SUPPORT


@pytest.mark.parametrize(
    ("change", "step", "field", "words"),
    [
        ({"imap_host": "no-such-host.invalid"}, "imap.dns", "settings.imap_host", "DNS"),
        ({"imap_port": "closed"}, "imap.connect", "settings.imap_port", "connect"),
        ({"imap_security": "tls"}, "imap.tls", "settings.imap_security", "TLS"),
        (
            {"imap_security": "starttls", "imap_host": "localhost"},
            "imap.tls",
            "settings.imap_security",
            "certificate verify failed",
        ),
        ({"secrets": {"imap_password": "wrong"}}, "imap.login", "settings.imap_username", "Login"),
        ({"imap_folder": "Archivio/Inesistente"}, "imap.folder", "settings.imap_folder", "folder"),
        ({"smtp_username": "support"}, "smtp.login", "settings.smtp_username", "Login"),
    ],
)
def test_settings_check_says_precisely_what_failed(client, org, inbox, dovecot, change, step, field, words):
    settings = {k: v for k, v in inbox["settings"].items()}
    secrets = {"imap_password": "pw-support"}
    for key, value in change.items():
        if key == "secrets":
            secrets = value
        elif value == "closed":
            settings[key] = free_port()
        else:
            settings[key] = value
    response = client.post(
        "/api/v1/inboxes/check",
        json={"channel": "email", "settings": settings, "secrets": secrets},
        headers=org.headers(),
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["step"] for e in body["errors"]] == [step] and body["errors"][0]["field"] == field
    assert words in body["errors"][0]["message"] and words in body["detail"]


def test_settings_check_of_a_working_inbox_and_starttls(client, org, inbox, dovecot):
    saved = client.post(f"/api/v1/inboxes/{inbox['id']}/check", headers=org.headers())
    assert saved.status_code == 200, saved.text
    assert saved.json() == {
        "ok": True,
        "checks": [
            {"step": "imap", "ok": True, "field": None, "message": None},
            {"step": "smtp", "ok": True, "field": None, "message": None},
        ],
    }
    starttls = client.post(
        f"/api/v1/inboxes/{inbox['id']}/check",
        json={"settings": {**inbox["settings"], "imap_security": "starttls", "imap_verify_tls": False}},
        headers=org.headers(),
    )
    assert starttls.status_code == 200, starttls.text
    implicit = client.post(
        f"/api/v1/inboxes/{inbox['id']}/check",
        json={
            "settings": {
                **inbox["settings"],
                "imap_security": "tls",
                "imap_port": dovecot.tls_port,
                "imap_verify_tls": False,
            }
        },
        headers=org.headers(),
    )
    assert implicit.status_code == 200, implicit.text
    assert client.post(f"/api/v1/inboxes/{inbox['id']}/check", headers=org.headers("agent")).status_code == 403


def test_settings_are_validated_field_by_field(client, org):
    cases = [
        ({"address": "not-an-address"}, {}, "settings.address"),
        ({"address": SUPPORT, "imap_security": "ssl"}, {}, "settings.imap_security"),
        ({"address": SUPPORT, "imap_port": 70000}, {}, "settings.imap_port"),
        ({"address": SUPPORT, "imap_host": "imap.example.com"}, {}, "secrets.imap_password"),
        ({"address": SUPPORT, "colour": "blue"}, {}, "settings"),
    ]
    for settings, secrets, field in cases:
        response = client.post(
            "/api/v1/inboxes",
            json={"name": "x", "channel": "email", "settings": settings, "secrets": secrets},
            headers=org.headers(),
        )
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, (settings, response.text)


def test_mail_service_runs_inside_the_worker(rt):
    from raccordo.bootstrap.worker import WorkerLoop

    loop = WorkerLoop(rt)
    mail = loop.pollers["email"]  # found through the registry: the email channel declares a poller
    loop.start()
    try:
        assert mail.running
    finally:
        loop.stop()
    assert not mail.running
