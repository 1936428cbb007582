"""Opt-out and opt-in keywords applied to the contact's consent, once the SMS is stored.

Subscribed to ``MessageReceived`` in the same transaction (``bootstrap.subscriptions``): the
channel marked the keyword on the message when it parsed it (``config.sms_metadata``); this
records the decision on the central record through the record's public service, with the word
and the message as its source. Marketing sends to a contact who withdrew are then refused by the
channel (``channel.SmsChannel.send``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from raccordo.channels.sms.config import DETAILS
from raccordo.channels.sms.keywords import OPTED_IN, OPTED_OUT
from raccordo.record.domain.events import MessageReceived
from raccordo.record.models import Message
from raccordo.record.services.consent import consent_by_customer

PURPOSE = "marketing_sms"
SOURCE = "sms_keyword"


def apply_keyword(session: Session, event: MessageReceived) -> None:
    message = session.get(Message, event.message_id)
    if message is None or message.channel != "sms":
        return
    keyword = (message.content_attributes.get(DETAILS) or {}).get("keyword")
    if not isinstance(keyword, dict) or keyword.get("action") not in (OPTED_OUT, OPTED_IN):
        return
    consent_by_customer(
        session,
        event.tenant_id,
        event.contact_id,
        purpose=PURPOSE,
        granted=keyword["action"] == OPTED_IN,
        source=SOURCE,
        note=f"SMS {keyword.get('word', '')}",
        message_id=message.id,
    )
