"""The email channel's test mailboxes: the addresses the test MTA answers with a vacation reply or a bounce,
emptying a mailbox, and reading back an inbox's messages and a conversation.
"""

from __future__ import annotations

from sqlalchemy import select

from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Conversation, Message
from tests.mailserver import Dovecot

VACATION = "in.ferie@customer.example"
BOUNCING = "nessuno@customer.example"


def clear_mailbox(dovecot: Dovecot, user: str) -> None:
    client = dovecot.imap(user)
    try:
        _, data = client.select("INBOX")
        if int(data[0]) > 0:
            client.store("1:*", "+FLAGS", "(\\Deleted)")
            client.expunge()
    finally:
        client.logout()


def messages_of(rt: Runtime, inbox_id: int) -> list[Message]:
    with unit_of_work(rt.sessions) as session:
        rows = list(session.scalars(select(Message).where(Message.inbox_id == inbox_id).order_by(Message.id)))
        session.expunge_all()
        return rows


def conversation(rt: Runtime, conversation_id: int) -> Conversation:
    with unit_of_work(rt.sessions) as session:
        row = session.get_one(Conversation, conversation_id)
        session.expunge(row)
        return row
