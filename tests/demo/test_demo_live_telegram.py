"""The demo's Telegram inbox is live: connected as ``raccordo demo`` connects it (polling mode against the
provider sandbox, the bot registered there with the customers of the history), a demo customer writes on
the sandbox, the worker's poll brings the message to their own contact, and the agent's reply reaches
them. Both databases."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import User
from raccordo.channels.models import Inbox
from raccordo.channels.telegram.service import poll_once
from raccordo.demo.live_telegram import connect_telegram
from raccordo.platform import jobs
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import ContactIdentity, Conversation, Message
from raccordo.record.services import reply as reply_service
from raccordo.record.services.import_contacts import tenant_by_slug
from raccordo.sandbox import server
from tests.demo.conftest import DemoRun
from tests.support.mail import wait_for


def test_a_demo_telegram_customer_writes_and_the_agents_reply_reaches_them(
    rt: Runtime, loaded: DemoRun, sandbox: server.Running, app_url: str
) -> None:
    # ``app_url``: the demo's app with its worker (outbox, the Telegram poller), as ``raccordo demo`` runs it.
    slug = loaded.logins.tenant_slug
    link = connect_telegram(rt, slug, sandbox.url)
    assert link.bot_id is not None
    assert connect_telegram(rt, slug, sandbox.url).bot_id == link.bot_id  # a second start keeps the token
    with unit_of_work(rt.sessions) as session:
        tenant_id = tenant_by_slug(session, slug).id
        inbox = session.scalars(select(Inbox).where(Inbox.tenant_id == tenant_id, Inbox.channel == "telegram")).one()
        assert inbox.settings["mode"] == "polling" and inbox.settings["api_base_url"] == sandbox.url
        history = session.scalar(select(func.count()).select_from(Message).where(Message.inbox_id == inbox.id))
        assert history and history > 5  # the history stayed on the inbox, now live
        identity = session.scalars(
            select(ContactIdentity)
            .where(ContactIdentity.tenant_id == tenant_id, ContactIdentity.kind == "telegram")
            .order_by(ContactIdentity.id)
            .limit(1)
        ).one()
        contact_id, user_id, inbox_id = identity.contact_id, int(identity.value), inbox.id
        admin = session.scalars(select(User).where(User.tenant_id == tenant_id, User.role == "admin").limit(1)).one()
        actor = Actor(tenant_id, admin.id, Role.ADMIN)
    jobs.run_due(rt, kinds=["channels.provision"])  # polling: any webhook deleted
    control = f"{sandbox.url}/_sandbox/telegram/bots/{link.bot_id}"
    written = httpx.post(f"{control}/users/{user_id}/messages", json={"text": "Ciao, il mio reso?"}, timeout=30)
    assert written.status_code == 200
    provider_id = f"{user_id}:{written.json()['message_id']}"

    def received() -> int | None:
        # The demo's app (served for the other live tests) runs its worker, whose Telegram poller may take
        # the update before this poll does: either way it is stored once.
        poll_once(rt, inbox_id, 0)
        with unit_of_work(rt.sessions) as session:
            return session.scalar(
                select(Message.conversation_id).where(
                    Message.inbox_id == inbox_id, Message.provider_message_id == provider_id
                )
            )

    received_in = wait_for(received, timeout=60, what="the customer's Telegram message")
    with unit_of_work(rt.sessions) as session:
        assert (
            session.scalar(select(func.count()).select_from(Message).where(Message.provider_message_id == provider_id))
            == 1
        )
        conversation = session.get_one(Conversation, received_in)
        assert conversation.contact_id == contact_id
        conversation_id = conversation.id
    with unit_of_work(rt.sessions) as session:
        reply = reply_service.send_reply(
            session,
            rt.files,
            actor,
            conversation_id,
            text="Il reso è stato accettato.",
            inbox_id=inbox_id,
            max_attachment_bytes=rt.settings.max_attachment_bytes,
        )
        reply_id = reply.id

    def sent_to_customer() -> bool:
        with unit_of_work(rt.sessions) as session:
            if session.get_one(Message, reply_id).delivery_status not in ("sent", "delivered", "read"):
                return False
        sent = httpx.get(control).json()["sent"]
        return any(s["chat_id"] == user_id and s["text"] == "Il reso è stato accettato." for s in sent)

    wait_for(sent_to_customer, timeout=60, what="the reply sent and at the sandbox (the app's worker delivers it)")
