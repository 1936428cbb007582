"""The composer's channel rules (declared per channel module, enforced by the reply service with a
``composer.*`` 422, shown on the page), attachments posted with a reply and delivered by email, the
widget and the API channel, the @mention people list, consent changes and merges from the customer
panel. HTTP level, on SQLite and PostgreSQL."""

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
from raccordo.platform.store.models import Event
from raccordo.record.models import Attachment, AuditEntry, Message
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


# --- @mentions: the people list ---------------------------------------------------------------------


def test_people_for_mentions_are_the_tenants_active_users_and_their_form_notifies(client, rt, org, other_org):
    people = client.get("/api/v1/composer/people", headers=org.headers("agent"))
    assert people.status_code == 200
    rows = {p["id"]: p for p in people.json()}
    assert set(rows) == set(org.users.values()), "only this tenant's users"
    assert not set(rows) & set(other_org.users.values())
    supervisor = rows[org.users["supervisor"]]
    assert supervisor == {
        "id": org.users["supervisor"],
        "name": "Supervisor User",
        "handle": "supervisor",
        "insert": "Supervisor User",
    }
    created = client.post(
        "/api/v1/users",
        json={
            "email": f"anna@{org.slug}.example.com",
            "name": "Anna Rossi",
            "role": "agent",
            "password": "correct horse battery",
        },
        headers=org.headers(),
    )
    assert created.status_code == 201, created.text
    assert (
        client.patch(f"/api/v1/users/{created.json()['id']}", json={"active": False}, headers=org.headers()).status_code
        == 200
    )
    assert created.json()["id"] not in {
        p["id"] for p in client.get("/api/v1/composer/people", headers=org.headers("agent")).json()
    }
    assert client.get("/api/v1/composer/people").status_code == 401
    # The inserted form is what the mention parser recognises: the note notifies that user.
    inbox = create_api_inbox(client, org.headers())
    post_inbound(
        client, inbox, customer_message(uuid.uuid4().hex, "Aiuto", email=f"m-{uuid.uuid4().hex[:6]}@example.com")
    )
    conversation_id = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]["id"]
    note = client.post(
        f"/api/v1/conversations/{conversation_id}/notes",
        json={"text": f"@{supervisor['insert']} guarda qui"},
        headers=org.headers("agent"),
    )
    assert note.status_code == 201
    with unit_of_work(rt.sessions) as session:
        events = session.scalars(
            select(Event).where(Event.tenant_id == org.tenant_id, Event.kind == "mention.created")
        ).all()
    assert [e.user_id for e in events] == [org.users["supervisor"]]


# --- consent ---------------------------------------------------------------------------------------------


def _conversation(client, org, name: str = "Giulia Bianchi", **identities: str) -> tuple[int, int]:
    inbox = create_api_inbox(client, org.headers())
    identities = identities or {"email": f"g-{uuid.uuid4().hex[:6]}@example.com"}
    post_inbound(client, inbox, customer_message(uuid.uuid4().hex, "Buongiorno", name=name, **identities))
    conversation = client.get("/api/v1/conversations", params={"inbox_id": inbox.id}, headers=org.headers()).json()[
        "items"
    ][0]
    return conversation["id"], conversation["contact_id"]


def test_consent_change_is_recorded_audited_on_the_timeline_and_scoped(client, rt, org, other_org, fresh):
    conversation_id, contact_id = _conversation(client, org)
    url = f"/api/v1/contacts/{contact_id}/consent"
    recorded = client.post(
        url,
        json={"purpose": "marketing_email", "granted": False, "source": "phone", "note": "Al telefono il 4 maggio"},
        headers=org.headers("agent"),
    )
    assert recorded.status_code == 200, recorded.text
    decision = recorded.json()["consent"]["marketing_email"]
    assert (
        decision["granted"] is False
        and decision["source"] == "phone"
        and decision["by"] == org.users["agent"]
        and decision["at"]
    )
    bad = client.post(
        url, json={"purpose": "marketing_email", "granted": True, "source": "telepathy"}, headers=org.headers("agent")
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "source"
    assert (
        client.post(url, json={"purpose": "x", "granted": True, "source": "phone"}, headers=org.headers()).json()[
            "errors"
        ][0]["field"]
        == "purpose"
    )
    assert (
        client.post(
            f"/api/v1/contacts/{contact_id}/consent",
            json={"purpose": "profiling", "granted": True, "source": "email"},
            headers=other_org.headers(),
        ).status_code
        == 404
    )
    timeline = client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=org.headers()).json()
    assert (
        timeline[0]["kind"] == "consent.changed"
        and timeline[0]["data"]["purpose"] == "marketing_email"
        and timeline[0]["data"]["granted"] is False
    )
    with unit_of_work(rt.sessions) as session:
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.tenant_id == org.tenant_id, AuditEntry.action == "contact.consent")
        ).all()
    assert [(a.user_id, a.target_id, a.data["source"]) for a in audit] == [(org.users["agent"], contact_id, "phone")]
    # From the panel: a missing decision is an error next to the field; a valid change re-renders the panel.
    browser = fresh()
    csrf = login(browser, org, "agent")
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    panel = f"/conversations/{conversation_id}/consent"
    missing = browser.post(panel, data={"purpose": "profiling", "source": "chat"}, headers=hx)
    assert (
        missing.status_code == 422
        and 'id="consent-granted-error"' in missing.text
        and translate("composer.consent_choose_decision", "en") in missing.text
    )
    saved = browser.post(panel, data={"purpose": "profiling", "granted": "1", "source": "chat"}, headers=hx)
    assert saved.status_code == 200 and saved.headers["hx-trigger"] == "raccordo:head"
    row = re.search(r'<tr data-purpose="profiling" data-granted="1">.*?</tr>', saved.text, re.S).group(0)
    assert "granted" in row and "in a chat" in row and "Agent User" in row
    assert (
        re.search(r'<tr data-purpose="marketing_email" data-granted="0">', saved.text)
        and "Consent changed" in saved.text
    )
    assert (
        browser.post(panel, data={"purpose": "profiling", "granted": "1", "source": "chat"}).status_code == 403
    )  # CSRF
    theirs, _ = _conversation(client, other_org)
    assert (
        browser.post(
            f"/conversations/{theirs}/consent",
            data={"purpose": "profiling", "granted": "1", "source": "chat"},
            headers=hx,
        ).status_code
        == 404
    )


# --- merge suggestions in the panel -------------------------------------------------------------------


def test_merge_from_the_panel_by_role_and_scoped(client, rt, org, other_org, fresh):
    conversation_id, contact_id = _conversation(client, org, name="Carla Neri")
    phone = f"+39 347 {uuid.uuid4().int % 10_000_000:07d}"
    _, twin_id = _conversation(client, org, name="Carla Neri", phone=phone)
    suggestions = client.get(
        "/api/v1/contacts/merge-suggestions", params={"contact_id": contact_id}, headers=org.headers()
    ).json()
    assert len(suggestions) == 1
    suggestion_id = suggestions[0]["id"]
    agent = fresh()
    hx = {"X-CSRF-Token": login(agent, org, "agent"), "HX-Request": "true"}
    page = agent.get(f"/conversations/{conversation_id}").text
    candidate = re.search(
        rf'<li class="merge-candidate" data-suggestion-id="{suggestion_id}" data-contact-id="{twin_id}">.*?</p>',
        page,
        re.S,
    )
    assert candidate and "same name" in candidate.group(0) and "50% likely" in candidate.group(0)
    assert (
        re.search(r'data-action="merge" disabled', page) and "Only supervisors and above can merge customers." in page
    )
    refused = agent.post(
        f"/conversations/{conversation_id}/merge", data={"suggestion_id": str(suggestion_id)}, headers=hx
    )
    assert refused.status_code == 422 and 'id="merge-error"' in refused.text
    assert client.get(f"/api/v1/contacts/{twin_id}", headers=org.headers()).json()["id"] == twin_id, "nothing merged"
    supervisor = fresh()
    hx = {"X-CSRF-Token": login(supervisor, org, "supervisor"), "HX-Request": "true"}
    # Another tenant's suggestion, or one not about this contact, is a 404.
    theirs_conversation, theirs_contact = _conversation(client, other_org, name="Carla Neri")
    _conversation(client, other_org, name="Carla Neri")
    theirs = client.get(
        "/api/v1/contacts/merge-suggestions", params={"contact_id": theirs_contact}, headers=other_org.headers()
    ).json()[0]["id"]
    assert (
        supervisor.post(
            f"/conversations/{conversation_id}/merge", data={"suggestion_id": str(theirs)}, headers=hx
        ).status_code
        == 404
    )
    assert (
        supervisor.post(
            f"/conversations/{theirs_conversation}/merge", data={"suggestion_id": str(suggestion_id)}, headers=hx
        ).status_code
        == 404
    )
    merged = supervisor.post(
        f"/conversations/{conversation_id}/merge", data={"suggestion_id": str(suggestion_id)}, headers=hx
    )
    assert merged.status_code == 200 and merged.headers["hx-trigger"] == "raccordo:head"
    assert phone.replace(" ", "") in merged.text and "merge-candidate" not in merged.text
    assert merged.text.count('<a href="/conversations/') == 2, "both customers' conversations are in the panel"
    assert client.get(f"/api/v1/contacts/{twin_id}", headers=org.headers()).json()["id"] == contact_id
    assert client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=org.headers()).json()[0]["kind"] == "merged"


def test_dismiss_from_the_panel(client, org, fresh):
    conversation_id, contact_id = _conversation(client, org, name="Dario Blu")
    _conversation(client, org, name="Dario Blu")
    suggestion_id = client.get(
        "/api/v1/contacts/merge-suggestions", params={"contact_id": contact_id}, headers=org.headers()
    ).json()[0]["id"]
    browser = fresh()
    hx = {"X-CSRF-Token": login(browser, org, "supervisor"), "HX-Request": "true"}
    dismissed = browser.post(f"/conversations/{conversation_id}/merge-suggestions/{suggestion_id}/dismiss", headers=hx)
    assert dismissed.status_code == 200 and "merge-candidate" not in dismissed.text
    assert (
        client.get(
            "/api/v1/contacts/merge-suggestions", params={"contact_id": contact_id}, headers=org.headers()
        ).json()
        == []
    )
    assert browser.get(f"/conversations/{conversation_id}/customer").status_code == 200
