"""The email channel against real servers: a private Dovecot (IMAP) and aiosmtpd (SMTP).

A customer's mail becomes a conversation (polled by the worker's mail service, with IDLE),
the agent's reply reaches the customer's mailbox with correct threading headers, and the
customer's answer joins the same conversation. Also: forwarding over SMTP, an auto-reply
that neither reopens nor gets answered, a bounce that marks the reply failed, a failing
message not blocking the others, messages marked seen only after they are stored, one
poller per mailbox.
"""

from __future__ import annotations

import smtplib
from email import message_from_bytes

import pytest
from sqlalchemy import select

from raccordo.channels.email.poller import MailService, PolledInbox, acquire_lease, poll_once, release_lease
from raccordo.channels.models import OutboxItem, RawInbound
from raccordo.channels.services import delivery
from raccordo.platform.config import Settings
from raccordo.platform.errors import NotFound
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Contact, Conversation, TimelineEvent
from tests.mailserver import free_port
from tests.support.email_channel import BOUNCING, VACATION, conversation, messages_of
from tests.support.mail import CUSTOMER, SUPPORT, customer_mail, wait_for


def test_round_trip_customer_agent_customer(client, rt, mail_rt, org, inbox, dovecot, mta):
    service = MailService(mail_rt)
    service.start()
    try:
        # 1. The customer writes: the worker's mail service (IMAP IDLE) turns it into a conversation.
        first = customer_mail(
            "Ordine 1234 non arrivato", "Buongiorno, il mio ordine 1234 non è ancora arrivato.\n\nMario"
        )
        smtplib.SMTP("127.0.0.1", mta.port).send_message(first)
        stored = wait_for(lambda: messages_of(rt, inbox["id"]), what="the customer's mail")
        assert stored[0].provider_message_id == first["Message-ID"] and "non è ancora arrivato" in stored[0].text
        assert stored[0].content_attributes["email"]["from"]["email"] == CUSTOMER
        conversation_id = stored[0].conversation_id
        assert conversation(rt, conversation_id).subject == "Ordine 1234 non arrivato"
        # Marked seen in the mailbox once stored.
        wait_for(
            lambda: all("\\Seen" in flags for _, flags in dovecot.messages("support")),
            what="\\Seen on the fetched mail",
        )

        # 2. The agent replies (text and HTML); the outbox sends it over SMTP to the customer's mailbox.
        reply = client.post(
            f"/api/v1/conversations/{conversation_id}/reply",
            json={
                "text": "Gentile Mario, il pacco è partito oggi.",
                "html": "<p>Gentile Mario, il pacco è <b>partito</b> oggi.</p>",
            },
            headers=org.headers("agent"),
        )
        assert reply.status_code == 201, reply.text
        assert delivery.run_once(rt) >= 1
        sent = next(m for m in messages_of(rt, inbox["id"]) if m.id == reply.json()["id"])
        assert sent.delivery_status == "sent", sent.delivery_error
        received = wait_for(lambda: dovecot.messages("customer"), what="the reply in the customer's mailbox")
        answer = message_from_bytes(received[0][0])
        assert answer["Message-ID"] == sent.provider_message_id
        assert answer["In-Reply-To"] == first["Message-ID"]
        assert first["Message-ID"] in answer["References"]
        assert SUPPORT in answer["From"] and answer["To"] == CUSTOMER
        assert answer["Reply-To"].endswith("@acme.example>") and f"support+r-{conversation_id}-" in answer["Reply-To"]
        assert answer["Subject"] == "Re: Ordine 1234 non arrivato"
        assert answer.get_content_type() == "multipart/alternative"
        parts = {
            part.get_content_type(): part.get_payload(decode=True).decode()
            for part in answer.walk()
            if not part.is_multipart()
        }
        assert "il pacco è partito oggi" in parts["text/plain"] and "<b>partito</b>" in parts["text/html"]

        # 3. The customer answers the reply: it joins the same conversation, quoted history folded.
        second = customer_mail(
            "Re: Ordine 1234 non arrivato",
            "Grazie mille!\n\nIl giorno mar 25 nov 2025, Acme ha scritto:\n> Gentile Mario, il pacco è partito oggi.\n",
            to=answer["Reply-To"],
            in_reply_to=answer["Message-ID"],
            references=f"{first['Message-ID']} {answer['Message-ID']}",
        )
        smtplib.SMTP("127.0.0.1", mta.port).send_message(second)
        joined = wait_for(
            lambda: [m for m in messages_of(rt, inbox["id"]) if m.provider_message_id == second["Message-ID"]],
            what="the customer's answer",
        )
        assert joined[0].conversation_id == conversation_id
        assert joined[0].content_attributes["text_main"] == "Grazie mille!"
        assert "il pacco è partito oggi" in joined[0].content_attributes["text_quoted"]

        # 4. Resolved, then a mail with no threading headers but sent to the token address: reopened, same conversation.
        assert (
            client.patch(
                f"/api/v1/conversations/{conversation_id}", json={"status": "resolved"}, headers=org.headers("agent")
            ).status_code
            == 200
        )
        third = customer_mail(
            "Un'altra cosa", "Posso cambiare l'indirizzo di consegna?", to=answer["Reply-To"].split("<")[-1].rstrip(">")
        )
        smtplib.SMTP("127.0.0.1", mta.port).send_message(third)
        reopened = wait_for(
            lambda: [m for m in messages_of(rt, inbox["id"]) if m.provider_message_id == third["Message-ID"]],
            what="the mail to the token address",
        )
        assert reopened[0].conversation_id == conversation_id and conversation(rt, conversation_id).status == "open"
    finally:
        service.stop()
    assert not service.running


def test_forwarding_over_smtp(client, rt, mail_rt, org, inbox, dovecot):
    port = free_port()
    settings = Settings(**{**mail_rt.settings.model_dump(), "email_polling": False, "smtp_receiver_port": port})
    forwarding_rt = Runtime.build(settings)
    service = MailService(forwarding_rt)
    service.start()
    try:
        assert service.receiver_port == port
        mail = customer_mail(
            "Inoltrata", "Scrivo all'indirizzo di assistenza, inoltrato a Raccordo.", sender="giulia@customer.example"
        )
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.ehlo()
            code, _ = smtp.mail("giulia@customer.example")
            assert code == 250
            code, detail = smtp.rcpt("sconosciuto@nowhere.example")
            assert code == 550 and b"no inbox" in detail  # not an open relay
            smtp.rset()
            assert smtp.sendmail("giulia@customer.example", [SUPPORT], mail.as_bytes()) == {}
            by_identifier = customer_mail(
                "Per identificativo", "Indirizzata all'identificativo della casella.", sender="luca@customer.example"
            )
            assert (
                smtp.sendmail(
                    "luca@customer.example", [f"{inbox['identifier']}@raccordo.example"], by_identifier.as_bytes()
                )
                == {}
            )
        # Processed after the 250 (services/email_receiver): wait for both.
        wanted = {mail["Message-ID"], by_identifier["Message-ID"]}
        stored = wait_for(
            lambda: (found := {m.provider_message_id: m for m in messages_of(rt, inbox["id"])})
            and wanted <= set(found)
            and found,
            what="both forwarded messages",
        )
        assert stored[mail["Message-ID"]].content_attributes["email"]["source"] == "smtp"
        with unit_of_work(rt.sessions) as session:
            raw = session.scalars(
                select(RawInbound).where(RawInbound.inbox_id == inbox["id"]).order_by(RawInbound.id)
            ).all()
            assert [r.status for r in raw] == ["processed", "processed"] and raw[0].headers[
                "x-raccordo-rcpt"
            ] == SUPPORT
    finally:
        service.stop()
        forwarding_rt.close()


def _conversation_with(client, rt, org, inbox, dovecot, sender: str) -> int:
    dovecot.append("support", customer_mail("Richiesta", "Una domanda.", sender=sender).as_bytes())
    poll_once(rt, inbox["id"])
    return next(
        m.conversation_id
        for m in messages_of(rt, inbox["id"])
        if m.content_attributes.get("email", {}).get("from", {}).get("email") == sender
    )


def test_auto_reply_neither_reopens_nor_is_answered(client, rt, org, inbox, dovecot, mta):
    conversation_id = _conversation_with(client, rt, org, inbox, dovecot, VACATION)
    reply = client.post(
        f"/api/v1/conversations/{conversation_id}/reply",
        json={"text": "Ecco la risposta."},
        headers=org.headers("agent"),
    )
    assert reply.status_code == 201
    assert (
        client.patch(
            f"/api/v1/conversations/{conversation_id}", json={"status": "resolved"}, headers=org.headers("agent")
        ).status_code
        == 200
    )
    delivery.run_once(rt)  # the vacation mailbox answers with an auto-reply into the support mailbox
    assert any(b"Auto-Submitted: auto-replied" in raw for raw, _ in dovecot.messages("support"))
    result = poll_once(rt, inbox["id"])
    assert result.fetched == 1 and result.failed == 0
    automated = [m for m in messages_of(rt, inbox["id"]) if m.content_attributes.get("automated")]
    assert len(automated) == 1 and automated[0].conversation_id == conversation_id, "kept on the conversation"
    assert conversation(rt, conversation_id).status == "resolved", "an auto-reply does not reopen"
    with unit_of_work(rt.sessions) as session:
        outbox = session.scalars(select(OutboxItem).where(OutboxItem.inbox_id == inbox["id"])).all()
    assert len(outbox) == 1, "nothing answers an auto-reply"
    # From a stranger, with no conversation: nothing is stored but the raw payload, with the reason.
    stranger = customer_mail(
        "Fuori ufficio",
        "Sono in ferie.",
        sender="sconosciuto@customer.example",
        extra={"Auto-Submitted": "auto-replied"},
    )
    dovecot.append("support", stranger.as_bytes())
    poll_once(rt, inbox["id"])
    with unit_of_work(rt.sessions) as session:
        raw = session.scalars(
            select(RawInbound).where(RawInbound.inbox_id == inbox["id"]).order_by(RawInbound.id.desc())
        ).first()
        assert raw.status == "ignored" and "auto-replied" in raw.error
        contacts = session.scalars(
            select(Contact.id)
            .join(Conversation, Conversation.contact_id == Contact.id)
            .where(Contact.tenant_id == org.tenant_id, Contact.name == "Mario Rossi")
        ).all()
    assert not [m for m in messages_of(rt, inbox["id"]) if m.provider_message_id == stranger["Message-ID"]]
    assert len(contacts) == 1


def test_bounce_marks_the_reply_failed_with_the_reason(client, rt, org, inbox, dovecot, mta):
    conversation_id = _conversation_with(client, rt, org, inbox, dovecot, BOUNCING)
    reply = client.post(
        f"/api/v1/conversations/{conversation_id}/reply",
        json={"text": "Risposta che tornerà indietro."},
        headers=org.headers("agent"),
    )
    delivery.run_once(rt)
    assert next(m for m in messages_of(rt, inbox["id"]) if m.id == reply.json()["id"]).delivery_status == "sent"
    poll_once(rt, inbox["id"])  # the DSN the MTA returned
    failed = next(m for m in messages_of(rt, inbox["id"]) if m.id == reply.json()["id"])
    assert (
        failed.delivery_status == "failed"
        and "5.1.1" in failed.delivery_error
        and "User unknown" in failed.delivery_error
    )
    shown = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=org.headers("agent")).json()
    assert next(m for m in shown if m["id"] == failed.id)["delivery_error"] == failed.delivery_error
    with unit_of_work(rt.sessions) as session:
        kinds = session.scalars(
            select(TimelineEvent.kind).where(TimelineEvent.conversation_id == conversation_id)
        ).all()
    assert "delivery.failed" in kinds
    assert (
        len(
            [
                m
                for m in messages_of(rt, inbox["id"])
                if m.conversation_id == conversation_id and m.direction == "inbound"
            ]
        )
        == 1
    ), "a bounce is not a customer message"


def test_failing_message_does_not_block_others_and_seen_only_after_stored(client, rt, org, inbox, dovecot):
    good_one = customer_mail("Primo", "Primo messaggio.")
    good_two = customer_mail("Terzo", "Terzo messaggio.", sender="anna@customer.example")
    dovecot.append("support", good_one.as_bytes())
    dovecot.append(
        "support",
        b"To: support@acme.example\r\nSubject: senza mittente\r\nMessage-ID: <nosender@x>\r\n\r\nNessuno.\r\n",
    )
    dovecot.append("support", good_two.as_bytes())
    # The inbox is deactivated while the mailbox is polled: storing fails, so nothing may be marked seen.
    assert (
        client.patch(f"/api/v1/inboxes/{inbox['id']}", json={"active": False}, headers=org.headers()).status_code == 200
    )
    with pytest.raises(NotFound):
        poll_once(rt, inbox["id"])
    assert all("\\Seen" not in flags for _, flags in dovecot.messages("support"))
    assert not messages_of(rt, inbox["id"])
    assert (
        client.patch(f"/api/v1/inboxes/{inbox['id']}", json={"active": True}, headers=org.headers()).status_code == 200
    )
    result = poll_once(rt, inbox["id"])
    assert (result.fetched, result.processed, result.failed) == (3, 2, 1)
    assert {m.provider_message_id for m in messages_of(rt, inbox["id"])} == {
        good_one["Message-ID"],
        good_two["Message-ID"],
    }
    with unit_of_work(rt.sessions) as session:
        failed = session.scalars(
            select(RawInbound).where(RawInbound.inbox_id == inbox["id"], RawInbound.status == "failed")
        ).one()
        assert "email.no_sender" in failed.error and b"Nessuno." in bytes(failed.body)
        # The batch was stored in one transaction: still one raw row per message, in UID order, each
        # with its own UID and body.
        rows = [session.get_one(RawInbound, raw_id) for raw_id in result.raw_ids]
        uids = [int(row.headers["x-imap-uid"]) for row in rows]
        assert uids == sorted(set(uids)) and len(uids) == 3
        assert [row.url for row in rows] == [f"imap:INBOX/{uid}" for uid in uids]
        assert b"Nessuno." in bytes(rows[1].body) and b"Primo messaggio." in bytes(rows[0].body)
    assert all("\\Seen" in flags for _, flags in dovecot.messages("support")), (
        "seen once stored (the failed one is kept raw with its error)"
    )
    assert poll_once(rt, inbox["id"]).fetched == 0


def test_one_worker_polls_a_mailbox_at_a_time(rt, inbox):
    with unit_of_work(rt.sessions) as session:
        from raccordo.channels.models import Inbox

        polled = PolledInbox(inbox["id"], session.get_one(Inbox, inbox["id"]).tenant_id, inbox["identifier"])
    assert acquire_lease(rt, polled, "worker-a")
    assert not acquire_lease(rt, polled, "worker-b")
    assert acquire_lease(rt, polled, "worker-a"), "the holder renews"
    from datetime import UTC, datetime, timedelta

    later = datetime.now(UTC) + timedelta(seconds=rt.settings.email_lease_seconds + 1)
    assert acquire_lease(rt, polled, "worker-b", now=later), "an expired lease is taken over"
    release_lease(rt, polled.id, "worker-b")
    assert acquire_lease(rt, polled, "worker-a")
    release_lease(rt, polled.id, "worker-a")
