"""The realtime bench's check against the database: every socket got every ``message.created`` event
the visibility rule gives it, exactly once."""

from __future__ import annotations

from typing import Any

from bench.realtime_setup import Setup
from bench.realtime_sockets import Phase, Tracker, parse_mark


def verify(rt: Any, setup: Setup, tracker: Tracker, phases: list[Phase]) -> dict[str, Any]:
    """From the database: the messages, their events, and which socket had to get which event (the rule itself)."""
    from sqlalchemy import func, select

    from raccordo.accounts.domain.roles import Role
    from raccordo.accounts.services.accounts import user_team_ids
    from raccordo.platform.events import event_message
    from raccordo.platform.store.db import unit_of_work
    from raccordo.platform.store.models import Event
    from raccordo.realtime.domain.visibility import Subscriber, visible
    from raccordo.record.models import Message

    sent = sum(p.n for p in phases)
    by_tag = {p.tag: p for p in phases}
    with unit_of_work(rt.sessions) as session:
        stored = int(
            session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.tenant_id == setup.tenant_id, Message.direction == "inbound")
            )
            or 0
        )
        rows = list(
            session.scalars(
                select(Event)
                .where(Event.tenant_id == setup.tenant_id, Event.kind == "message.created")
                .order_by(Event.id)
            )
        )
        events = [event_message(row) for row in rows]
        subscribers = {
            user_id: Subscriber(
                setup.tenant_id, user_id, Role.AGENT, frozenset(user_team_ids(session, setup.tenant_id, user_id))
            )
            for user_id, _ in setup.agents
        }
    expected = received = missing = unexpected = 0
    id_mismatches = unknown_events = 0
    seen: set[tuple[str, int]] = set()
    for event in events:
        mark = parse_mark(str(event["payload"].get("text") or ""))
        phase = by_tag.get(mark[1]) if mark is not None and mark[0] == tracker.run_id else None
        if phase is None or not 0 <= mark[2] < phase.n:  # type: ignore[index]
            unknown_events += 1
            continue
        index = mark[2]  # type: ignore[index]
        seen.add((phase.tag, index))
        if phase.posted_message_id[index] != event["payload"].get("id") or phase.event_message_id[index] not in (
            None,
            event["payload"].get("id"),
        ):
            id_mismatches += 1
        for position, sock in enumerate(phase.sockets):
            got = phase.got[position][index]
            if visible(event, subscribers[setup.agents[sock.user][0]]):
                expected += 1
                received += 1 if got else 0
                missing += 0 if got else 1
            elif got:
                unexpected += 1
    duplicates = sum(p.duplicates for p in phases)
    order = sum(s.order_violations for p in phases for s in p.sockets)
    facts = {
        "messages_posted": sent,
        "inbound_messages_in_db": stored,
        "message_created_events_in_db": len(events),
        "events_without_a_posted_message": unknown_events,
        "posted_messages_without_event": sent - len(seen),
        "message_id_mismatches": id_mismatches,
        "expected_deliveries": expected,
        "received_deliveries": received,
        "missing_deliveries": missing,
        "duplicate_deliveries": duplicates,
        "unexpected_deliveries": unexpected,
        "out_of_order_events": order,
        "stray_events": tracker.stray,
        "foreign_events": tracker.foreign,
    }
    problems = []
    if stored != sent:
        problems.append(f"{stored} inbound messages stored for {sent} posted")
    if len(events) != sent or unknown_events or sent != len(seen):
        problems.append(
            f"{len(events)} message.created events stored for {sent} posted ({unknown_events} unknown, "
            f"{sent - len(seen)} posted without one)"
        )
    if id_mismatches:
        problems.append(f"{id_mismatches} events carry another message id than the POST answered")
    if missing:
        problems.append(f"{missing} of {expected} expected deliveries missing")
    if duplicates:
        problems.append(f"{duplicates} duplicate deliveries")
    if unexpected:
        problems.append(f"{unexpected} deliveries the visibility rule does not allow")
    if order:
        problems.append(f"{order} events out of order on a socket")
    facts["problems"] = problems
    return facts
