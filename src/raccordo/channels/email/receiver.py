"""The SMTP receiver for forwarded mail (aiosmtpd): companies forward their support address here.

A recipient is accepted when it names an email inbox that accepts forwarding:
``<inbox identifier>@<any domain>`` always, or the inbox's own ``address`` when exactly
one inbox in the whole installation has it (so one tenant cannot capture another's mail
by configuring its address). Anything else is refused at RCPT time with 550, so this is
never an open relay. The message is stored raw and committed for each inbox, then the
server answers 250 at once; processing follows in the background (a slow message never makes
the sender time out and send it again), and its failure stays on the raw row. A crash before
processing leaves the row ``pending`` for the worker's reprocessing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from raccordo.channels.base import InboundRequest
from raccordo.channels.email import KIND
from raccordo.channels.email.mailbox import MAX_ATTACHMENT_HEADER
from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import StoredPayload, process_raw, store_raw
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work

log = logging.getLogger(__name__)


def inbox_for_recipient(rt: Runtime, address: str) -> str | None:
    """The identifier of the inbox that accepts forwarded mail for ``address``, or None."""
    address = address.strip().strip("<>").lower()
    local, _, _domain = address.partition("@")
    base = f"{local.split('+', 1)[0]}@{_domain}"
    with unit_of_work(rt.sessions) as session:
        inboxes = session.scalars(select(Inbox).where(Inbox.active.is_(True), Inbox.channel == KIND)).all()
        accepting = [i for i in inboxes if i.settings.get("accept_forwarding", True)]
        for inbox in accepting:
            if inbox.identifier.lower() == local.split("+", 1)[0]:
                return inbox.identifier
        matches = [i for i in accepting if str(i.settings.get("address", "")).lower() in (address, base)]
        return matches[0].identifier if len(matches) == 1 else None


class ForwardingHandler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.processing: set[asyncio.Task[None]] = set()  # kept referenced until done

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        try:
            identifier = await asyncio.to_thread(inbox_for_recipient, self.rt, address)
        except Exception:
            log.exception("SMTP receiver: looking up %s failed", address)
            return "451 4.3.0 Temporary failure, try again later"
        if identifier is None:
            return f"550 5.1.1 <{address}>: no inbox accepts mail for this address"
        envelope.rcpt_tos.append(address)
        targets: dict[str, str] = getattr(envelope, "raccordo_inboxes", {})
        targets.setdefault(identifier, address)
        envelope.raccordo_inboxes = targets  # type: ignore[attr-defined]
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        body = envelope.original_content or envelope.content or b""
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogateescape")
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        targets: dict[str, str] = getattr(envelope, "raccordo_inboxes", {})
        stored = []
        try:
            for identifier, rcpt in targets.items():
                headers = {
                    "x-raccordo-source": "smtp",
                    "x-raccordo-rcpt": rcpt,
                    "x-raccordo-mail-from": envelope.mail_from or "",
                    "x-raccordo-peer": peer,
                    MAX_ATTACHMENT_HEADER: str(self.rt.settings.max_attachment_bytes),
                }
                request = InboundRequest.polled(f"smtp:{rcpt}", body, headers)
                stored.append(await asyncio.to_thread(store_raw, self.rt, identifier, request))
        except Exception:
            log.exception("SMTP receiver: storing a message failed")
            return "451 4.3.0 Could not store the message, try again later"
        task = asyncio.create_task(self._process(stored))
        self.processing.add(task)
        task.add_done_callback(self.processing.discard)
        return "250 2.0.0 Message accepted"

    async def _process(self, stored: list[StoredPayload]) -> None:
        for payload in stored:
            # A failure is kept on the raw row with its error; the next message goes on.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(process_raw, self.rt, payload)


async def start_receiver(rt: Runtime, host: str, port: int) -> Any:
    """Listen for SMTP on ``host:port`` in the running loop; returns the asyncio server (port 0: a free one)."""
    handler = ForwardingHandler(rt)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(
            handler,
            data_size_limit=rt.settings.max_body_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname="raccordo",
            ident="Raccordo ESMTP",
        ),
        host=host,
        port=port,
    )
