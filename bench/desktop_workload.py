"""The bench's extra conversations: ``add_conversations`` writes ``count`` conversations with new
contacts (email and phone, 2 to 4 messages, teams, assignees, labels, queue items), drawn from the
word and name lists below with a fixed seed, so ``bench/desktop.py`` measures the desktop on a
realistic tenant of any size."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

WORDS = [
    "ordine",
    "spedizione",
    "rimborso",
    "reso",
    "fattura",
    "pagamento",
    "consegna",
    "corriere",
    "pacco",
    "garanzia",
    "riparazione",
    "sostituzione",
    "lavatrice",
    "frigorifero",
    "tostapane",
    "aspirapolvere",
    "stampante",
    "router",
    "fibra",
    "abbonamento",
    "password",
    "account",
    "indirizzo",
    "ritardo",
    "danneggiato",
    "order",
    "shipping",
    "refund",
    "invoice",
    "payment",
    "delivery",
    "parcel",
    "warranty",
    "repair",
    "replacement",
    "printer",
    "subscription",
    "address",
    "delayed",
    "damaged",
    "perché",
    "già",
    "più",
    "città",
]
FIRST = [
    "Giulia",
    "Marco",
    "Francesca",
    "Luca",
    "Chiara",
    "Alessandro",
    "Sara",
    "Matteo",
    "Elena",
    "Davide",
    "Martina",
    "Lorenzo",
    "Anna",
    "Simone",
    "Laura",
    "Andrea",
    "Emma",
    "Oliver",
    "Sophie",
    "James",
    "Charlotte",
    "Henry",
    "Niccolò",
    "Zoë",
]
LAST = [
    "Rossi",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De",
    "Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Esposito",
    "Fabbri",
]


# --------------------------------------------------------------------------- more conversations


def add_conversations(rt: Any, tenant_id: int, count: int, seed: int) -> dict[str, Any]:
    """``count`` conversations with new contacts, through the ORM (so the search index follows as
    it does for every write), in chunks of 500."""
    from sqlalchemy import select

    from raccordo.accounts.models import Team, User
    from raccordo.channels.models import Inbox
    from raccordo.platform.store.db import unit_of_work
    from raccordo.record.models import Contact, ContactIdentity, Conversation, ConversationLabel, Message
    from raccordo.routing.models import QueueItem, RoutingQueue

    rng = random.Random(seed)
    now = datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        agents = list(session.scalars(select(User.id).where(User.tenant_id == tenant_id, User.role == "agent")))
        teams = list(session.scalars(select(Team.id).where(Team.tenant_id == tenant_id)))
        queues = list(session.scalars(select(RoutingQueue.id).where(RoutingQueue.tenant_id == tenant_id)))
        inboxes = [(i.id, i.channel) for i in session.scalars(select(Inbox).where(Inbox.tenant_id == tenant_id))]
    statuses = ["open"] * 30 + ["pending"] * 10 + ["snoozed"] * 5 + ["resolved"] * 45 + ["closed"] * 10
    started = time.perf_counter()
    for start in range(0, count, 500):
        with unit_of_work(rt.sessions) as session:
            for index in range(start, min(count, start + 500)):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                at = now - timedelta(minutes=rng.randint(1, 180 * 24 * 60))
                contact = Contact(
                    tenant_id=tenant_id,
                    name=f"{first} {last}",
                    name_key=f"{first} {last}".lower(),
                    created_at=at,
                    updated_at=at,
                )
                session.add(contact)
                session.flush()
                session.add_all(
                    [
                        ContactIdentity(
                            tenant_id=tenant_id,
                            contact_id=contact.id,
                            kind="email",
                            value=f"{first}.{last}.{index}@bench.example".lower().replace(" ", ""),
                            created_at=at,
                        ),
                        ContactIdentity(
                            tenant_id=tenant_id,
                            contact_id=contact.id,
                            kind="phone",
                            value=f"+39345{index:07d}",
                            created_at=at,
                        ),
                    ]
                )
                inbox_id, channel = rng.choice(inboxes)
                status = rng.choice(statuses)
                assignee = None if status == "open" and rng.random() < 0.3 else rng.choice(agents)
                labels = sorted(
                    rng.sample(["vip", "reclamo", "urgente", "b2b", "estero"], k=rng.choice([0, 0, 0, 1, 2]))
                )
                conversation = Conversation(
                    tenant_id=tenant_id,
                    contact_id=contact.id,
                    status=status,
                    priority=rng.choice(["none"] * 6 + ["low", "medium", "high", "urgent"]),
                    subject=" ".join(rng.sample(WORDS, 3)).capitalize() if rng.random() < 0.6 else None,
                    assignee_id=assignee,
                    team_id=rng.choice(teams) if teams else None,
                    labels=labels,
                    last_channel=channel,
                    last_inbox_id=inbox_id,
                    created_at=at,
                    updated_at=at,
                    last_activity_at=at,
                    last_customer_message_at=at,
                    resolved_at=at if status in ("resolved", "closed") else None,
                    snoozed_until=now + timedelta(days=1) if status == "snoozed" else None,
                )
                session.add(conversation)
                session.flush()
                session.add_all(
                    ConversationLabel(tenant_id=tenant_id, conversation_id=conversation.id, label=label)
                    for label in labels
                )
                for n in range(rng.randint(2, 4)):
                    direction = "inbound" if n % 2 == 0 else rng.choice(["outbound", "outbound", "note"])
                    session.add(
                        Message(
                            tenant_id=tenant_id,
                            conversation_id=conversation.id,
                            direction=direction,
                            channel=channel,
                            inbox_id=inbox_id,
                            sender_type="contact" if direction == "inbound" else "user",
                            text=" ".join(rng.choices(WORDS, k=rng.randint(6, 30))),
                            delivery_status="received" if direction == "inbound" else "sent",
                            created_at=at,
                        )
                    )
                if queues and status == "open":
                    session.add(
                        QueueItem(
                            tenant_id=tenant_id,
                            conversation_id=conversation.id,
                            queue_id=rng.choice(queues),
                            channel=channel or "api",
                            status="waiting" if assignee is None else "assigned",
                            assigned_user_id=assignee,
                            enqueued_at=at,
                            queued_at=at,
                            updated_at=at,
                        )
                    )
    return {"conversations": count, "seconds": round(time.perf_counter() - started, 2)}
