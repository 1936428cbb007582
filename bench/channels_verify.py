"""The channels bench's verification: after the run the database must hold exactly what each channel sent.

Per inbox: one inbound message per request with the provider's message id, one raw payload per
request, every one ``processed`` (none left ``pending`` or ``failed``), one contact per request
(every request is a new customer) carrying the identity the request named. Per tenant: as many
contacts as requests sent over all channels (nobody linked across channels, nobody split)."""

from __future__ import annotations

from typing import Any

from bench._support import BenchError
from bench.channels_cases import InboundCall
from bench.ingest_client import PhaseResult


def accepted(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The webhook answer's outcomes: the channel route's JSON is one, the WhatsApp app URL's lists one per inbox."""
    return list(answer["inboxes"]) if "inboxes" in answer else [answer]


def verify_channel(
    connection: Any,
    tenant_id: int,
    inbox_id: int,
    calls: list[InboundCall],
    phases: list[PhaseResult],
    answers_ids: bool = True,
) -> tuple[dict[str, Any], list[str]]:
    """The facts about one channel's inbox, and what is wrong with them (empty when all is as sent).

    ``answers_ids``: the channel's answer lists the stored message ids (else it is the provider's own
    format, and ``distinct_message_ids_returned`` is None)."""
    from sqlalchemy import func, select

    from raccordo.channels.models import RawInbound
    from raccordo.record.models import ContactIdentity, Conversation, Message

    def count(statement: Any) -> int:
        return int(connection.execute(statement).scalar_one())

    sent = len(calls)
    expected_ids = {call.message_id for call in calls}
    inbound = (Message.tenant_id == tenant_id, Message.inbox_id == inbox_id, Message.direction == "inbound")
    stored_ids = set(connection.execute(select(Message.provider_message_id).where(*inbound)).scalars())
    raw = (RawInbound.tenant_id == tenant_id, RawInbound.inbox_id == inbox_id)
    statuses = dict(
        connection.execute(select(RawInbound.status, func.count()).where(*raw).group_by(RawInbound.status)).all()
    )
    expected_identities = {call.identity for call in calls}
    kinds = {kind for kind, _ in expected_identities}
    stored_identities = set(
        connection.execute(
            select(ContactIdentity.kind, ContactIdentity.value).where(
                ContactIdentity.tenant_id == tenant_id, ContactIdentity.kind.in_(kinds)
            )
        ).tuples()
    )
    outcomes = [o for p in phases for r in p.responses for o in accepted(r)]
    returned = {mid for o in outcomes for mid in o.get("message_ids", [])}
    facts = {
        "sent": sent,
        "messages_in_db": count(select(func.count()).select_from(Message).where(*inbound)),
        "provider_ids_missing": len(expected_ids - stored_ids),
        "provider_ids_unexpected": len(stored_ids - expected_ids),
        "distinct_message_ids_returned": len(returned) if answers_ids else None,
        "duplicates_reported": sum(int(o.get("duplicates", 0)) for o in outcomes),
        "raw_inbound_in_db": sum(int(n) for n in statuses.values()),
        "raw_inbound_by_status": {str(k): int(v) for k, v in statuses.items()},
        "contacts_of_inbox": count(
            select(func.count(func.distinct(Conversation.contact_id)))
            .select_from(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(*inbound)
        ),
        "identities_missing": len(expected_identities - stored_identities),
    }
    problems = []
    if facts["messages_in_db"] != sent or facts["provider_ids_missing"] or facts["provider_ids_unexpected"]:
        problems.append(
            f"{facts['messages_in_db']} inbound messages stored for {sent} sent"
            f" ({facts['provider_ids_missing']} provider ids missing, {facts['provider_ids_unexpected']} unexpected)"
        )
    if (answers_ids and facts["distinct_message_ids_returned"] != sent) or facts["duplicates_reported"]:
        problems.append(
            f"{facts['distinct_message_ids_returned']} distinct message ids and {facts['duplicates_reported']}"
            f" duplicates answered for {sent} distinct messages sent"
        )
    if facts["raw_inbound_in_db"] != sent or statuses.get("processed", 0) != sent:
        problems.append(f"raw payloads by status {facts['raw_inbound_by_status']} for {sent} sent")
    if facts["contacts_of_inbox"] != sent or facts["identities_missing"]:
        problems.append(
            f"{facts['contacts_of_inbox']} contacts for {sent} distinct customers sent"
            f" ({facts['identities_missing']} of their identities missing)"
        )
    return facts, problems


def verify(
    rt: Any,
    tenant_id: int,
    inboxes: dict[str, int],
    calls: dict[str, list[InboundCall]],
    phases: dict[str, list[PhaseResult]],
    answers_ids: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """Every channel's facts and the tenant's contact count; BenchError when anything differs from what was sent."""
    from sqlalchemy import func, select

    from raccordo.channels.models import RawInbound
    from raccordo.record.models import Contact

    facts: dict[str, Any] = {}
    problems: list[str] = []
    with rt.engine.connect() as connection:
        for channel, inbox_id in inboxes.items():
            facts[channel], wrong = verify_channel(
                connection, tenant_id, inbox_id, calls[channel], phases[channel], (answers_ids or {}).get(channel, True)
            )
            problems.extend(f"{channel}: {problem}" for problem in wrong)
        sent = sum(len(c) for c in calls.values())
        contacts = int(
            connection.execute(
                select(func.count())
                .select_from(Contact)
                .where(Contact.tenant_id == tenant_id, Contact.merged_into_id.is_(None))
            ).scalar_one()
        )
        pending = int(
            connection.execute(
                select(func.count()).select_from(RawInbound).where(RawInbound.status == "pending")
            ).scalar_one()
        )
    facts["tenant"] = {"sent": sent, "contacts_in_db": contacts, "raw_inbound_pending": pending}
    if contacts != sent:
        problems.append(f"{contacts} contacts in the tenant for {sent} distinct customers sent")
    if pending:
        problems.append(f"{pending} raw payloads left pending")
    if problems:
        raise BenchError("verification failed: " + "; ".join(problems))
    return facts
