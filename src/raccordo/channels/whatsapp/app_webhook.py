"""One webhook URL for a whole Meta app: the inboxes its phone numbers belong to.

Meta sends every event of an app to one callback URL, whichever of its phone numbers (and
WhatsApp Business Accounts) it concerns; the number is in each change's
``metadata.phone_number_id``. This finds the active WhatsApp inboxes of those numbers and hands
the request to each through the one inbound path (``inbound.receive``): each inbox verifies the
signature with its own app secret, stores the raw request, and keeps only its own number's
changes. The look-up is by the provider's id, as the per-inbox URL's is by the inbox identifier:
the tenant is the inbox's, never chosen by the caller.
"""

from __future__ import annotations

import hmac
import json

from sqlalchemy import select

from raccordo.channels.base import ChannelRejected, InboundRequest, WebhookResponse
from raccordo.channels.models import Inbox
from raccordo.channels.services import inbound as inbound_service
from raccordo.channels.services.inbound import InboundOutcome, inbox_config
from raccordo.channels.whatsapp import inbound
from raccordo.platform.errors import NotFound
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work

KIND = "whatsapp"


def _inboxes(rt: Runtime) -> list[tuple[str, str, dict[str, str]]]:
    """(identifier, phone number id, secrets) of every active WhatsApp inbox."""
    with unit_of_work(rt.sessions) as session:
        rows = session.scalars(select(Inbox).where(Inbox.channel == KIND, Inbox.active.is_(True))).all()
        return [
            (row.identifier, str(row.settings.get("phone_number_id", "")), inbox_config(rt, row).secrets)
            for row in rows
        ]


def _identifiers(rt: Runtime, numbers: set[str]) -> list[str]:
    """The identifiers of the active WhatsApp inboxes of these phone number ids, filtered in the database.

    No secret is opened here (each inbox's own receive verifies the signature with its app
    secret): reading and decrypting every WhatsApp inbox of the installation on every webhook cost
    ~43 µs of CPU per inbox per request (22 ms with 500 inboxes, bench/channels.py)."""
    if not numbers:
        return []
    with unit_of_work(rt.sessions) as session:
        return list(
            session.scalars(
                select(Inbox.identifier)
                .where(
                    Inbox.channel == KIND,
                    Inbox.active.is_(True),
                    Inbox.settings["phone_number_id"].as_string().in_(sorted(numbers)),
                )
                .order_by(Inbox.id)
            )
        )


def handshake(rt: Runtime, request: InboundRequest) -> WebhookResponse:
    """Meta's GET verification of the app URL: the verify token must be one of a WhatsApp inbox's."""
    token = request.query_value("hub.verify_token") or ""
    known = any(
        secrets.get("verify_token") and hmac.compare_digest(token, secrets["verify_token"])
        for _, _, secrets in _inboxes(rt)
    )
    if request.query_value("hub.mode") != "subscribe" or not known:
        raise ChannelRejected("whatsapp.verify_token_mismatch", status=403)
    return WebhookResponse((request.query_value("hub.challenge") or "").encode(), "text/plain; charset=utf-8")


def receive(rt: Runtime, request: InboundRequest, remote: str | None) -> list[InboundOutcome]:
    """Hand the request to the inbox of each phone number it names; 404 when none is configured here."""
    try:
        numbers = inbound.phone_number_ids(json.loads(request.body))
    except (ValueError, UnicodeDecodeError):
        raise ChannelRejected("channel.payload_invalid", status=422, field="body", reason="not JSON") from None
    targets = _identifiers(rt, numbers)
    if not targets:
        raise NotFound("whatsapp.no_inbox", numbers=", ".join(sorted(numbers)) or "-")
    outcomes: list[InboundOutcome] = []
    refused: ChannelRejected | None = None
    for identifier in targets:
        try:
            outcomes.append(inbound_service.receive(rt, identifier, request, KIND, remote))
        except ChannelRejected as exc:
            # One inbox with a wrong app secret (counted on it) must not keep the others' messages out.
            if exc.status not in (401, 403):
                raise
            refused = refused or exc
    if not outcomes and refused is not None:
        raise refused
    return outcomes
