"""One webhook URL for a whole Meta app: the inboxes of the pages (or Instagram accounts) a request names.

Meta sends every event of an app to one callback URL, whichever page it concerns; the page is each
entry's ``id``. This finds the active inboxes of those pages and hands the request to each through
the one inbound path (``inbound.receive``): each inbox verifies the signature with its own app
secret, stores the raw request and keeps only its own page's entries. The look-up is by the
provider's id, as the per-inbox URL's is by the inbox identifier: the tenant is the inbox's.
"""

from __future__ import annotations

import hmac
import json

from sqlalchemy import select

from raccordo.channels.base import ChannelRejected, InboundRequest, WebhookResponse
from raccordo.channels.messenger import inbound
from raccordo.channels.models import Inbox
from raccordo.channels.services import inbound as inbound_service
from raccordo.channels.services.inbound import InboundOutcome, inbox_config
from raccordo.platform.errors import NotFound
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work


def _inboxes(rt: Runtime, kind: str) -> list[tuple[str, str, dict[str, str]]]:
    """(identifier, page/account id, secrets) of every active inbox of ``kind``."""
    with unit_of_work(rt.sessions) as session:
        rows = session.scalars(select(Inbox).where(Inbox.channel == kind, Inbox.active.is_(True))).all()
        return [
            (
                row.identifier,
                str(row.settings.get("account_id") or row.settings.get("page_id") or ""),
                inbox_config(rt, row).secrets,
            )
            for row in rows
        ]


def handshake(rt: Runtime, kind: str, request: InboundRequest) -> WebhookResponse:
    """Meta's GET verification of the app URL: the verify token must be one of an inbox's of ``kind``."""
    token = request.query_value("hub.verify_token") or ""
    known = any(
        secrets.get("verify_token") and hmac.compare_digest(token, secrets["verify_token"])
        for _, _, secrets in _inboxes(rt, kind)
    )
    if request.query_value("hub.mode") != "subscribe" or not known:
        raise ChannelRejected("meta.verify_token_mismatch", status=403)
    return WebhookResponse((request.query_value("hub.challenge") or "").encode(), "text/plain; charset=utf-8")


def receive(rt: Runtime, kind: str, request: InboundRequest, remote: str | None) -> list[InboundOutcome]:
    """Hand the request to the inbox of each page it names; 404 when none is configured here."""
    try:
        pages = inbound.account_ids(json.loads(request.body), kind)
    except (ValueError, UnicodeDecodeError):
        raise ChannelRejected("channel.payload_invalid", status=422, field="body", reason="not JSON") from None
    targets = [identifier for identifier, page, _ in _inboxes(rt, kind) if page in pages]
    if not targets:
        raise NotFound("meta.no_inbox", pages=", ".join(sorted(pages)) or "-")
    outcomes: list[InboundOutcome] = []
    refused: ChannelRejected | None = None
    for identifier in targets:
        try:
            outcomes.append(inbound_service.receive(rt, identifier, request, kind, remote))
        except ChannelRejected as exc:
            # One inbox with a wrong app secret (counted on it) must not keep the others' messages out.
            if exc.status not in (401, 403):
                raise
            refused = refused or exc
    if not outcomes and refused is not None:
        raise refused
    return outcomes
