"""A corpus of real-world MIME messages goes through the email channel; none crashes it.

``tests/mail_corpus/*.eml`` reproduce what contact centers receive: Outlook, Gmail, Apple
Mail, Thunderbird, iPhone, Yahoo, Lotus Notes and Exchange 2003 (TNEF) messages, mailing
list digests, iso-8859-1/windows-1252/koi8-r/shift_jis/iso-2022-jp/gb2312/utf-7 bodies,
wrong and unknown declared charsets, raw 8-bit headers, RFC 2047 words (folded, broken),
broken base64 and quoted-printable, nested multiparts, inline cid images, RFC 2231 file
names, calendar invites, DSN bounces (Postfix, Exchange, qmail), auto-replies, missing
Date/From/Message-ID, a 300 KB line, binary garbage. ``expected.json`` says, per file,
what a person reading it would expect: the sender, the decoded subject and text, the
attachments, what is quoted, or that it is a bounce, an auto-reply or unreadable.

Each file is stored raw and processed through the real inbound path of an email inbox
(``services/inbound``), on SQLite and PostgreSQL: it becomes a message, or a raw payload
kept as ``ignored`` (auto-reply or bounce with nothing to attach to) or ``failed`` with
its error.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from raccordo.channels.domain.request import InboundRequest
from raccordo.channels.email.mime import parse_email
from raccordo.channels.email.quotes import split_reply
from raccordo.channels.email.tokens import conversation_from_tokens, outbound_message_id, reply_address
from raccordo.channels.models import RawInbound
from raccordo.channels.services.inbound import process_raw, store_raw
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain import html_view
from raccordo.record.models import Attachment, ContactIdentity, Conversation, Message

CORPUS = Path(__file__).parents[1] / "mail_corpus"
EXPECTED: dict[str, dict] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
FILES = sorted(p.name for p in CORPUS.glob("*.eml"))


def test_the_corpus_is_varied_and_fully_described():
    assert len(FILES) >= 40
    assert set(FILES) == set(EXPECTED), "every .eml needs its expectations in expected.json"
    outcomes = {e["outcome"] for e in EXPECTED.values()}
    assert outcomes == {"message", "ignored", "failed"}


@pytest.mark.parametrize("name", FILES)
def test_parse_reads_what_a_person_would(name):
    expected = EXPECTED[name]
    parsed = parse_email((CORPUS / name).read_bytes())
    assert parsed.message_id.startswith("<") and parsed.message_id.endswith(">")
    if expected.get("generated_id"):
        assert parsed.message_id_generated and parsed.message_id.endswith("@raccordo.generated>")
    if "sender" in expected:
        assert parsed.sender is not None and parsed.sender.email == expected["sender"]
    if "contact_name" in expected:
        assert parsed.sender is not None and parsed.sender.name == expected["contact_name"]
    if "subject" in expected:
        assert parsed.subject == expected["subject"]
    for fragment in expected.get("text", []):
        assert fragment in parsed.text, f"{fragment!r} not in {parsed.text[:300]!r}"
    for fragment in expected.get("not_text", []):
        assert fragment not in parsed.text
    if "attachments" in expected:
        assert [a.filename for a in parsed.attachments] == expected["attachments"]
    if "inline" in expected:
        assert [a.content_id for a in parsed.attachments if a.inline] == expected["inline"]
    split = split_reply(parsed.text)
    if "main" in expected:
        assert expected["main"] in split.main
    if "quoted" in expected:
        assert expected["quoted"] in split.quoted and expected["quoted"] not in split.main
    if "signature" in expected:
        assert expected["signature"] in split.signature and expected["signature"] not in split.main
    if expected["outcome"] == "message":
        assert parsed.automated is None and parsed.bounce is None
    if expected.get("bounce"):
        assert parsed.bounce is not None and expected["bounce"] in parsed.bounce.original_message_ids
        assert expected["reason"] in f"{parsed.bounce.status} {parsed.bounce.reason}"
    if expected.get("automated"):
        assert parsed.automated


def test_delayed_dsn_is_not_a_failure():
    parsed = parse_email((CORPUS / "dsn_delayed_warning.eml").read_bytes())
    assert parsed.bounce is None and parsed.automated


def test_reply_tokens_are_signed():
    secret = "s3cret"
    address = reply_address("Assistenza@acme.example", secret, 42)
    assert address.startswith("Assistenza+r-42-") and address.endswith("@acme.example")
    assert conversation_from_tokens(secret, [address], []) == 42
    assert conversation_from_tokens("other-secret", [address], []) is None
    forged = address.replace("+r-42-", "+r-43-")
    assert conversation_from_tokens(secret, [forged], []) is None
    message_id = outbound_message_id("k-1", secret, 7, "acme.example")
    assert conversation_from_tokens(secret, [], [message_id]) == 7


def test_isolated_view_blocks_remote_images_and_inlines_cid():
    html = (
        '<p>Hi <img src="https://tracker.example/p.gif?a=1&amp;b=2" alt=""> <img src="cid:logo@x">'
        ' <img src="cid:missing@x"></p>'
    )
    blocked = html_view.isolate_images(
        html, allow_remote=False, resolve_cid=lambda cid: "data:image/png;base64,AAAA" if cid == "logo@x" else None
    )
    assert "tracker.example" not in blocked.split("data-remote-src")[0]
    assert 'data-remote-src="https://tracker.example/p.gif?a=1&amp;b=2"' in blocked
    assert 'src="data:image/png;base64,AAAA"' in blocked
    assert blocked.count(html_view.BLOCKED_IMAGE) == 2  # the remote one and the unresolved cid
    allowed = html_view.isolate_images(html, allow_remote=True, resolve_cid=lambda cid: None)
    assert 'src="https://tracker.example/p.gif?a=1&amp;b=2"' in allowed
    assert html_view.count_remote_images(html) == 1
    assert "img-src data:;" in html_view.content_security_policy(False) + ";"


# --- through the real inbound path, on both databases ---------------------------------------------


@pytest.fixture
def email_inbox(client, org):
    response = client.post(
        "/api/v1/inboxes",
        json={
            "name": "Assistenza",
            "channel": "email",
            "settings": {"address": f"assistenza-{uuid.uuid4().hex[:6]}@acme.example"},
        },
        headers=org.headers(),
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_every_corpus_message_is_stored_or_kept_with_its_error(rt, org, email_inbox):
    outcomes: dict[str, str] = {}
    for name in FILES:
        expected = EXPECTED[name]
        raw = (CORPUS / name).read_bytes()
        stored = store_raw(
            rt, email_inbox["identifier"], InboundRequest.polled("test", raw, {"x-raccordo-source": "test"})
        )
        # A failure must be recorded on the raw row, checked below.
        with contextlib.suppress(Exception):
            process_raw(rt, stored)
        with unit_of_work(rt.sessions) as session:
            row = session.get_one(RawInbound, stored.raw_id)
            assert bytes(row.body) == raw, "the raw payload is kept byte for byte"
            outcomes[name] = row.status
            if expected["outcome"] == "message":
                assert row.status == "processed", f"{name}: {row.status} {row.error}"
                message = session.get_one(Message, row.message_ids[0])
                parsed = parse_email(raw)
                assert message.provider_message_id == parsed.message_id
                for fragment in expected.get("text", []):
                    assert fragment in message.text, f"{name}: {fragment!r}"
                identity = session.scalars(
                    select(ContactIdentity).where(
                        ContactIdentity.contact_id == session.get_one(Conversation, message.conversation_id).contact_id,
                        ContactIdentity.kind == "email",
                    )
                ).first()
                assert identity is not None and identity.value == expected["sender"].lower()
                names = [
                    a.filename
                    for a in session.scalars(
                        select(Attachment).where(Attachment.message_id == message.id).order_by(Attachment.id)
                    )
                ]
                assert names == expected.get("attachments", names)
                inline = [
                    a.content_id
                    for a in session.scalars(
                        select(Attachment)
                        .where(Attachment.message_id == message.id, Attachment.content_id.is_not(None))
                        .order_by(Attachment.id)
                    )
                ]
                assert inline == expected.get("inline", [])
                if "main" in expected:
                    assert expected["main"] in message.content_attributes["text_main"]
                if expected.get("html_split"):
                    assert (
                        message.content_attributes["html_main"]
                        and expected.get("quoted", "\0") not in message.content_attributes["html_main"]
                    )
                if expected.get("html_safe"):
                    assert (
                        "<script" not in message.html
                        and "onclick" not in message.html
                        and "javascript:" not in message.html
                        and "<iframe" not in message.html
                    )
                    assert message.content_attributes["remote_images"] == expected["remote_images"]
            elif expected["outcome"] == "ignored":
                assert row.status == "ignored", f"{name}: {row.status} {row.error}"
                assert row.error and (expected.get("bounce", "automated") in row.error), row.error
            else:
                assert row.status == "failed" and expected["error"] in (row.error or ""), (
                    f"{name}: {row.status} {row.error}"
                )
    assert sum(1 for s in outcomes.values() if s == "processed") >= 40


def test_the_same_message_twice_is_stored_once(rt, org, email_inbox):
    raw = (CORPUS / "gmail_reply_en.eml").read_bytes()
    first = process_raw(rt, store_raw(rt, email_inbox["identifier"], InboundRequest.polled("test", raw)))
    second = process_raw(rt, store_raw(rt, email_inbox["identifier"], InboundRequest.polled("test", raw)))
    assert first.message_ids == second.message_ids and second.duplicates == 1
    with unit_of_work(rt.sessions) as session:
        count = len(session.scalars(select(Message.id).where(Message.inbox_id == email_inbox["id"])).all())
    assert count == 1


def test_html_view_endpoint_sandboxes_and_blocks_remote_images(client, rt, org, email_inbox):
    raw = (CORPUS / "html_only_scripts_tracking.eml").read_bytes()
    outcome = process_raw(rt, store_raw(rt, email_inbox["identifier"], InboundRequest.polled("test", raw)))
    message_id = outcome.message_ids[0]
    blocked = client.get(f"/api/v1/messages/{message_id}/html", headers=org.headers("agent"))
    assert blocked.status_code == 200, blocked.text
    assert (
        "sandbox" in blocked.headers["content-security-policy"]
        and "script" not in blocked.headers["content-security-policy"]
    )
    assert "img-src data:;" in blocked.headers["content-security-policy"]
    assert 'data-remote-src="https://tracker.example/pixel.gif?id=123&amp;u=9"' in blocked.text
    assert ' src="https://tracker.example' not in blocked.text and "<script" not in blocked.text
    allowed = client.get(
        f"/api/v1/messages/{message_id}/html", params={"remote_images": "allow"}, headers=org.headers("agent")
    )
    assert 'src="https://tracker.example/pixel.gif?id=123&amp;u=9"' in allowed.text
    assert "https:" in allowed.headers["content-security-policy"]


def test_html_view_inlines_cid_images_and_folds_quotes(client, rt, org, email_inbox):
    raw = (CORPUS / "outlook_nested_related_logo_docx.eml").read_bytes()
    message_id = process_raw(
        rt, store_raw(rt, email_inbox["identifier"], InboundRequest.polled("test", raw))
    ).message_ids[0]
    page = client.get(f"/api/v1/messages/{message_id}/html", headers=org.headers("agent"))
    assert 'src="data:image/png;base64,' in page.text and 'data-cid="image001.png@01DC5E01.A1B2C3D0"' in page.text
    raw = (CORPUS / "gmail_reply_en.eml").read_bytes().replace(b"<CAJ7y=", b"<fold-" + uuid.uuid4().hex.encode() + b"=")
    message_id = process_raw(
        rt, store_raw(rt, email_inbox["identifier"], InboundRequest.polled("test", raw))
    ).message_ids[0]
    full = client.get(f"/api/v1/messages/{message_id}/html", headers=org.headers("agent"))
    folded = client.get(f"/api/v1/messages/{message_id}/html", params={"quoted": "hide"}, headers=org.headers("agent"))
    assert "could you send us the invoice" in full.text
    assert "could you send us the invoice" not in folded.text and "the invoice is attached now" in folded.text
    text_only = process_raw(
        rt,
        store_raw(
            rt,
            email_inbox["identifier"],
            InboundRequest.polled("test", (CORPUS / "android_gmail_signature.eml").read_bytes()),
        ),
    ).message_ids[0]
    missing = client.get(f"/api/v1/messages/{text_only}/html", headers=org.headers("agent"))
    assert missing.status_code == 404 and missing.json()["detail"]


def test_the_webhook_url_does_not_take_email(client, rt, org, email_inbox):
    """Mail arrives by IMAP or the SMTP receiver; an unauthenticated post to the webhook URL is refused
    and stores nothing."""
    raw = (CORPUS / "gmail_reply_en.eml").read_bytes()
    response = client.post(
        f"/api/v1/channels/email/{email_inbox['identifier']}/messages",
        content=raw,
        headers={"Content-Type": "message/rfc822"},
    )
    assert response.status_code == 405 and response.json()["detail"]
    with unit_of_work(rt.sessions) as session:
        assert not session.scalars(select(RawInbound.id).where(RawInbound.inbox_id == email_inbox["id"])).all()
