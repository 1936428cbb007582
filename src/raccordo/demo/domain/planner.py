"""The demo's whole history, planned without a database: the same content, seed and ``now`` give
the same plan, to the byte.

``plan_demo`` draws everything from one ``random.Random(seed)``, in a fixed order: the contacts,
then each contact's conversations (topic, case, agent, channels, texts, time offsets), then their
place in the last 90 days, then the details that depend on the order things happened in
(providers' message ids, attachment bytes, snooze lengths), then the agenda.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from raccordo.demo.domain import attachments
from raccordo.demo.domain.content import Content
from raccordo.demo.domain.dialogue import minutes, plan_conversation
from raccordo.demo.domain.people import CONTACT_COUNT, HISTORY_DAYS, Ids, plan_contacts
from raccordo.demo.domain.plan import Action, AgendaPlan, ContactPlan, ConversationPlan, DemoPlan

__all__ = ["CONTACT_COUNT", "CONVERSATION_COUNT", "HISTORY_DAYS", "plan_demo"]

CONVERSATION_COUNT = 500
# Longer than the tenant's reopen window (7 days), so a contact's next conversation is a new one.
GAP_BETWEEN_CONVERSATIONS = timedelta(days=8)
MAX_CONVERSATIONS_PER_CONTACT = 4


def _conversation_counts(rng: random.Random, contacts: list[ContactPlan]) -> list[int]:
    counts = [1] * len(contacts)
    weights = [rng.choice((1, 1, 1, 2, 3, 5)) for _ in contacts]
    extra = CONVERSATION_COUNT - len(contacts)
    while extra:
        index = rng.choices(range(len(contacts)), weights=weights)[0]
        if counts[index] < MAX_CONVERSATIONS_PER_CONTACT:
            counts[index] += 1
            extra -= 1
    return counts


def _statuses(rng: random.Random, count: int, last_is_active: bool) -> list[str]:
    """Older conversations are resolved (some closed); the latest may still be active."""
    statuses = ["closed" if rng.random() < 0.12 else "resolved" for _ in range(count)]
    if last_is_active:
        statuses[-1] = rng.choices(("open", "pending", "snoozed"), weights=(50, 30, 20))[0]
    return statuses


def _schedule(rng: random.Random, plans: list[ConversationPlan], now: datetime, active: bool) -> None:
    """Place one contact's conversations in the last 90 days, at least 8 days apart, in order."""
    window = timedelta(days=HISTORY_DAYS - 1)
    tail = minutes(rng, 10, 36 * 60) if active else timedelta(0)
    needed = sum((p.duration for p in plans), timedelta(0)) + GAP_BETWEEN_CONVERSATIONS * (len(plans) - 1) + tail
    slack = window - needed
    if slack < timedelta(0):
        raise RuntimeError("demo conversations do not fit in the history window")
    # Cut points in [0, 1] share the slack out before each conversation; an active contact's
    # last cut is 1, so its latest conversation ends just ``tail`` before now.
    gaps = sorted(rng.random() for _ in range(len(plans) - (1 if active else 0))) + ([1.0] if active else [])
    cursor = now - window
    previous = 0.0
    for plan, cut in zip(plans, gaps, strict=True):
        cursor += slack * (cut - previous)
        previous = cut
        plan.start = cursor
        cursor += plan.duration + GAP_BETWEEN_CONVERSATIONS


def _plan_conversations(
    rng: random.Random, content: Content, contacts: list[ContactPlan], now: datetime
) -> list[ConversationPlan]:
    counts = _conversation_counts(rng, contacts)
    plans: list[ConversationPlan] = []
    for contact, count in zip(contacts, counts, strict=True):
        active = rng.random() < 0.28
        mine = [
            plan_conversation(rng, content, len(plans) + i, contact, status)
            for i, status in enumerate(_statuses(rng, count, active))
        ]
        _schedule(rng, mine, now, active)
        plans.extend(mine)
    return plans


def _finish_details(rng: random.Random, content: Content, plan: DemoPlan) -> None:
    """Providers' message ids, attachment bytes and snooze lengths, drawn in the order things happened."""
    counter = 0

    def provider_id(channel: str) -> str:
        nonlocal counter
        counter += 1
        stem = f"{counter:06d}{rng.getrandbits(40):010x}"
        return content.organization.channels[channel].message_id.format(stem=stem)

    for timed in plan.timeline():
        step = timed.step
        if step.action is Action.INBOUND:
            assert step.channel is not None
            if step.attachment is not None:
                _, content_type = step.attachment
                step.attachment_data = (
                    attachments.png(bytes(rng.randrange(256) for _ in range(3)))
                    if content_type == "image/png"
                    else attachments.app_log(timed.at)
                )
            step.provider_message_id = provider_id(step.channel)
        elif step.action is Action.REPLY:
            assert step.channel is not None
            step.provider_message_id = provider_id(step.channel) + "-out"
        elif step.action is Action.STATUS and step.status == "snoozed":
            step.snooze_for = timedelta(hours=rng.randint(12, 72))


def _plan_agenda(content: Content, now: datetime) -> list[AgendaPlan]:
    """The callbacks the data asks for, due after ``now`` (a delay, or a time of day tomorrow)."""
    agenda = []
    for item in content.setup.agenda:
        due = item["due"]
        if "after_hours" in due:
            due_at = now + timedelta(hours=due["after_hours"])
        else:
            hour, minute = (int(part) for part in due["next_day_at"].split(":"))
            local = now.astimezone(ZoneInfo(due["timezone"]))
            due_at = (local + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
        agenda.append(AgendaPlan(item["kind"], item.get("channel"), due_at, item["note"]))
    return agenda


def plan_demo(content: Content, seed: int, now: datetime) -> DemoPlan:
    """Everything the demo will contain, for this seed, with the history ending before ``now``."""
    rng = random.Random(seed)
    contacts = plan_contacts(rng, Ids(rng, content.people), content.people, now)
    plan = DemoPlan(now, contacts, _plan_conversations(rng, content, contacts, now), _plan_agenda(content, now))
    _finish_details(rng, content, plan)
    return plan
