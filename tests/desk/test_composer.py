"""The composer's channel rules (declared per channel module, enforced by the reply service with a
``composer.*`` 422, shown on the page) and attachments posted with a reply and delivered by email, the
widget and the API channel. HTTP level, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import email
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from raccordo.channels.base import (
    Capabilities,
    Channel,
    DeliveryReport,
    InboundEvent,
    InboundIdentity,
    InboundRequest,
    InboxConfig,
    OutboundMessage,
    get_channel,
    register,
    unregister,
)
from raccordo.channels.domain.composer import ComposerRules, OutgoingFile, check_reply, sms_segments
from raccordo.platform.errors import InvalidInput
from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Attachment, Message
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.pages import login
from tests.support.widget import (
    ORIGIN,
    SmtpSink,
    deliver,
    email_inbox,
    open_session,
    until,
    visitor_socket,
    widget_inbox,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 200


# --- the rules, pure ------------------------------------------------------------------------------


def test_each_channel_module_declares_its_rules():
    email_rules, widget_rules, api_rules = (get_channel(k).composer for k in ("email", "widget", "api"))
    assert (
        email_rules.max_length == 500_000
        and email_rules.max_attachments == 20
        and email_rules.max_attachment_bytes == 20 * 1024 * 1024
    )
    assert (
        widget_rules.max_length == 10_000
        and widget_rules.max_attachments == 5
        and "image/png" in widget_rules.attachment_types
    )
    assert api_rules.max_length == 100_000 and api_rules.attachment_types == ()
    # A widget inbox narrows them with its own settings; the installation's limit narrows every one.
    narrowed = get_channel("widget").composer_rules(
        {"max_attachment_bytes": 1000, "attachment_types": ["application/pdf"]}
    )
    assert narrowed.max_attachment_bytes == 1000 and narrowed.attachment_types == ("application/pdf",)
    assert (
        api_rules.limited(4096).max_attachment_bytes == 4096
        and email_rules.limited(1 << 40).max_attachment_bytes == 20 * 1024 * 1024
    )


def test_check_reply_names_the_rule_and_its_limit():
    now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    rules = ComposerRules(
        max_length=160,
        attachments=True,
        max_attachments=1,
        max_attachment_bytes=100,
        attachment_types=("image/*",),
        reply_window_seconds=24 * 3600,
    )

    def refused(**kwargs: Any) -> InvalidInput:
        values = {
            "channel": "sms",
            "text": "ciao",
            "files": [],
            "last_inbound_at": now - timedelta(hours=1),
            "now": now,
        } | kwargs
        with pytest.raises(InvalidInput) as caught:
            check_reply(rules, **values)
        return caught.value

    check_reply(
        rules,
        channel="sms",
        text="x" * 160,
        files=[OutgoingFile("a.png", "image/png", 100)],
        last_inbound_at=now - timedelta(hours=23, minutes=59),
        now=now,
    )
    assert (
        check_reply(rules, channel="sms", text="a\r\n" * 53 + "b", files=[], last_inbound_at=now, now=now) is None
    )  # CRLF from a form counts once
    too_long = refused(text="x" * 161)
    assert too_long.key == "composer.too_long" and too_long.params["limit"] == 160 and too_long.field == "text"
    closed = refused(last_inbound_at=now - timedelta(hours=25))
    assert (
        closed.key == "composer.window_closed"
        and closed.params["closed_at"] == "2026-05-04 11:00 UTC"
        and closed.field == "inbox_id"
    )
    assert refused(last_inbound_at=None).key == "composer.window_never_opened"
    assert refused(files=[OutgoingFile("a.png", "image/png", 1)] * 2).key == "composer.too_many_attachments"
    big = refused(files=[OutgoingFile("a.png", "image/png", 101)])
    assert big.key == "composer.attachment_too_large" and big.field == "attachments.0" and big.params["limit"] == 100
    assert refused(files=[OutgoingFile("a.pdf", "application/pdf", 1)]).key == "composer.attachment_type"
    no_files = ComposerRules(attachments=False)
    with pytest.raises(InvalidInput) as caught:
        check_reply(no_files, channel="x", text="", files=[OutgoingFile("a", "b/c", 1)], last_inbound_at=None, now=now)
    assert caught.value.key == "composer.attachments_not_allowed"


def test_sms_segments():
    assert (
        sms_segments("") == 0
        and sms_segments("a" * 160) == 1
        and sms_segments("a" * 161) == 2
        and sms_segments("a" * 306) == 2
    )
    assert sms_segments("€" * 80) == 1 and sms_segments("€" * 81) == 2  # extension characters count twice
    assert sms_segments("ciao 😀") == 1 and sms_segments("ş" * 71) == 2  # not GSM-7: UCS-2, 70 per part


# --- a channel with a message window, as WhatsApp's 24 hours -------------------------------------


class WindowedChannel(Channel):
    """A test plugin channel (like a WhatsApp module would be): 1 h window, 160 characters, no files."""

    kind = "test_windowed"
    capabilities = Capabilities()
    composer = ComposerRules(max_length=160, attachments=False, reply_window_seconds=3600, sms_segments=True)
    reply_identity_kinds = ("phone",)

    def parse_inbound(self, inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
        data = json.loads(request.body)
        return [
            InboundEvent(
                provider_message_id=data["id"],
                identities=[InboundIdentity("phone", data["phone"], True)],
                text=data["text"],
            )
        ]

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        return f"w-{message.idempotency_key}"


@pytest.fixture
def windowed() -> Iterator[str]:
    register(WindowedChannel)
    yield WindowedChannel.kind
    unregister(WindowedChannel.kind)


def _problem(response, field: str, code: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == field and body["errors"][0]["code"] == code, body
    return body


def test_message_window_length_and_files_are_enforced_per_inbox(client, rt, org, windowed, fresh):
    headers = org.headers()
    inbox = client.post("/api/v1/inboxes", json={"name": "WhatsApp", "channel": windowed}, headers=headers).json()
    phone = f"+39347{uuid.uuid4().int % 10_000_000:07d}"
    received = client.post(
        f"/api/v1/channels/{windowed}/{inbox['identifier']}/messages",
        content=json.dumps({"id": uuid.uuid4().hex, "phone": phone, "text": "Ciao"}),
    )
    assert received.status_code == 200, received.text
    conversation_id = client.get("/api/v1/conversations", params={"inbox_id": inbox["id"]}, headers=headers).json()[
        "items"
    ][0]["id"]
    url = f"/api/v1/conversations/{conversation_id}/reply"
    too_long = _problem(
        client.post(url, json={"text": "x" * 161, "inbox_id": inbox["id"]}, headers=headers),
        "text",
        "composer.too_long",
    )
    assert "160" in too_long["detail"] and "161" in too_long["detail"]
    files = [{"filename": "a.png", "content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()}]
    _problem(
        client.post(url, json={"text": "foto", "inbox_id": inbox["id"], "attachments": files}, headers=headers),
        "attachments",
        "composer.attachments_not_allowed",
    )
    assert client.post(url, json={"text": "Eccomi", "inbox_id": inbox["id"]}, headers=headers).status_code == 201
    # The page shows the rules of each inbox of the select, window included.
    browser = fresh()
    login(browser, org, "agent")
    page = browser.get(f"/conversations/{conversation_id}").text
    option = re.search(rf'<option value="{inbox["id"]}"[^>]*data-rules="([^"]+)"', page).group(1)
    shown = json.loads(option.replace("&#34;", '"'))
    assert (
        shown["max_length"] == 160
        and shown["attachments"] is False
        and shown["window_open"] is True
        and shown["sms_segments"] is True
    )
    # An hour after the customer's message the window is closed: 422 saying when.
    with unit_of_work(rt.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.conversation_id == conversation_id, Message.direction == "inbound")
            .values(created_at=datetime.now(UTC) - timedelta(minutes=61))
        )
    closed = _problem(
        client.post(url, json={"text": "Ci sei?", "inbox_id": inbox["id"]}, headers=headers),
        "inbox_id",
        "composer.window_closed",
    )
    assert (
        "a 1-hour window" in closed["detail"]
        and " UTC" in closed["detail"]
        and "Answer on another channel" in closed["detail"]
    )
    page = browser.get(f"/conversations/{conversation_id}").text
    option = re.search(rf'<option value="{inbox["id"]}"[^>]*data-rules="([^"]+)"', page).group(1)
    assert json.loads(option.replace("&#34;", '"'))["window_open"] is False
    # ... and the composer offers it no more, saying why (channels/domain/reach.py).
    offered = re.search(rf'<option value="{inbox["id"]}"[^>]*>([^<]+)</option>', page)
    assert " disabled " in offered.group(0) and "The 1-hour window closed at" in offered.group(1)
    # A conversation the customer started elsewhere: no window was ever opened on this inbox.
    api_inbox = create_api_inbox(client, headers)
    post_inbound(
        client,
        api_inbox,
        customer_message(
            uuid.uuid4().hex,
            "Ciao dall'app",
            name="Altro Cliente",
            phone=f"+39 348 {uuid.uuid4().int % 10_000_000:07d}",
        ),
    )
    other = client.get("/api/v1/conversations", params={"inbox_id": api_inbox.id}, headers=headers).json()["items"][0][
        "id"
    ]
    _problem(
        client.post(
            f"/api/v1/conversations/{other}/reply", json={"text": "Ciao", "inbox_id": inbox["id"]}, headers=headers
        ),
        "inbox_id",
        "composer.window_never_opened",
    )


# --- attachments from the page, delivered ----------------------------------------------------------


def _files(*items: tuple[str, bytes, str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("attachments", item) for item in items]


def test_page_reply_with_files_is_stored_and_delivered_by_api_and_email(client, rt, org, callback, fresh):
    headers = org.headers()
    inbox = create_api_inbox(client, headers, callback_url=callback.url)
    address = f"cliente-{uuid.uuid4().hex[:6]}@example.com"
    post_inbound(client, inbox, customer_message(uuid.uuid4().hex, "Mi mandate la fattura?", email=address))
    conversation_id = client.get("/api/v1/conversations", params={"inbox_id": inbox.id}, headers=headers).json()[
        "items"
    ][0]["id"]
    browser = fresh()
    csrf = login(browser, org, "agent")
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    url = f"/conversations/{conversation_id}/reply"
    pdf = b"%PDF-1.4 fattura " + uuid.uuid4().bytes
    sent = browser.post(
        url,
        data={"text": "Ecco la fattura", "inbox_id": str(inbox.id)},
        files=_files(("fattura.pdf", pdf, "application/pdf"), ("foto.png", PNG, "image/png")),
        headers=hx,
    )
    assert sent.status_code == 200, sent.text
    with unit_of_work(rt.sessions) as session:
        message = session.scalars(
            select(Message).where(Message.conversation_id == conversation_id, Message.direction == "outbound")
        ).one()
        stored = {
            a.filename: (a.content_type, a.size, a.storage_path)
            for a in session.scalars(select(Attachment).where(Attachment.message_id == message.id))
        }
        message_id = message.id
    assert stored["fattura.pdf"][:2] == ("application/pdf", len(pdf)) and stored["foto.png"][:2] == (
        "image/png",
        len(PNG),
    )
    assert rt.files.path(stored["fattura.pdf"][2]).read_bytes() == pdf
    assert deliver(rt, message_id) == "sent"
    posted = json.loads(callback.received[-1]["body"])["message"]["attachments"]
    assert [(a["filename"], base64.b64decode(a["data_base64"])) for a in posted] == [
        ("fattura.pdf", pdf),
        ("foto.png", PNG),
    ]
    # The same customer answered by email, with a file: a real SMTP server receives it attached.
    smtp = SmtpSink()
    try:
        mail_inbox = email_inbox(client, org, smtp)
        by_mail = browser.post(
            url,
            data={"text": "Anche per email", "inbox_id": str(mail_inbox["id"])},
            files=_files(("fattura.pdf", pdf, "application/pdf")),
            headers=hx,
        )
        assert by_mail.status_code == 200, by_mail.text
        with unit_of_work(rt.sessions) as session:
            mail_id = session.scalar(
                select(Message.id).where(
                    Message.conversation_id == conversation_id, Message.inbox_id == mail_inbox["id"]
                )
            )
        assert deliver(rt, mail_id) == "sent"
        recipients, raw = smtp.received[-1]
        parsed = email.message_from_bytes(raw)
        parts = [(p.get_filename(), p.get_payload(decode=True)) for p in parsed.walk() if p.get_filename()]
        assert recipients == [address] and parts == [("fattura.pdf", pdf)]
    finally:
        smtp.close()
    # Limits: the API channel takes 20 files; the installation's size limit applies to it.
    too_many = browser.post(
        url,
        data={"text": "x", "inbox_id": str(inbox.id)},
        files=_files(*[(f"f{i}.txt", b"x", "text/plain") for i in range(21)]),
        headers=hx,
    )
    assert (
        too_many.status_code == 422
        and translate("composer.too_many_attachments", "en", count=21, limit=20, channel="api") in too_many.text
    )
    assert 'value="x"' not in too_many.text and ">x</textarea>" in too_many.text  # the draft is kept


def test_widget_reply_with_a_file_reaches_the_visitor_and_follows_the_inbox_limits(client, rt, org, fresh):
    identifier = widget_inbox(client, org, max_attachment_bytes=1000, attachment_types=["image/png"])["identifier"]
    token = open_session(client, identifier).json()["visitor_token"]
    with visitor_socket(client, identifier, token) as ws:
        until(ws, lambda f: f["type"] == "hello")
        ws.send_json({"type": "message", "client_id": "c-1", "text": "Mi mandate una foto?"})
        until(ws, lambda f: f["type"] == "message")
    conversation = client.get("/api/v1/conversations", params={"channel": "widget"}, headers=org.headers()).json()[
        "items"
    ][0]
    browser = fresh()
    csrf = login(browser, org, "agent")
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    url = f"/conversations/{conversation['id']}/reply"
    inbox_id = str(conversation["last_inbox_id"])
    wrong_type = browser.post(
        url,
        data={"text": "Ecco", "inbox_id": inbox_id},
        files=_files(("doc.pdf", b"%PDF", "application/pdf")),
        headers=hx,
    )
    assert (
        wrong_type.status_code == 422
        and "image/png" in wrong_type.text
        and 'data-field="attachments"' in wrong_type.text
    )
    too_big = browser.post(
        url,
        data={"text": "Ecco", "inbox_id": inbox_id},
        files=_files(("big.png", PNG + b"\0" * 1000, "image/png")),
        headers=hx,
    )
    assert too_big.status_code == 422 and "1000" in too_big.text
    ok = browser.post(
        url,
        data={"text": "Ecco la foto", "inbox_id": inbox_id},
        files=_files(("foto.png", PNG, "image/png")),
        headers=hx,
    )
    assert ok.status_code == 200, ok.text
    messages = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()
    reply = messages[-1]
    assert reply["direction"] == "outbound" and reply["attachments"][0]["filename"] == "foto.png"
    assert deliver(rt, reply["id"]) == "sent"
    got = client.get(
        f"/widget/{identifier}/attachments/{reply['attachments'][0]['id']}",
        headers={"origin": ORIGIN, "x-raccordo-visitor": token},
    )
    assert got.status_code == 200 and got.content == PNG
