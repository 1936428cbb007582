"""One conversation's story: the topic, the case, who answers, and every message, note,
assignment and status change with its time offset. Drawn from the seeded generator only."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from raccordo.demo.domain.content import Content, Topic, ascii_slug
from raccordo.demo.domain.plan import Action, ContactPlan, ConversationPlan, Step

PRIORITIES = ("none", "low", "medium", "high", "urgent")
PRIORITY_WEIGHTS = (45, 15, 22, 13, 5)


def minutes(rng: random.Random, low: int, high: int) -> timedelta:
    # Skewed towards quick answers, with a long tail.
    return timedelta(minutes=low + (high - low) * rng.random() ** 2.5)


def _agent_for(rng: random.Random, content: Content, team: str, language: str) -> int:
    staff = content.organization.staff
    members = [i for i, person in enumerate(staff) if team in person.teams]
    speakers = [i for i in members if staff[i].language == language]
    if speakers and rng.random() < 0.7:
        return rng.choice(speakers)
    return rng.choice(members)


def _channel_path(rng: random.Random, available: list[str]) -> list[str]:
    """The channels the customer uses, in order; more than one means the conversation switches."""
    first = rng.choice(available)
    path = [first]
    others = [c for c in available if c != first]
    if others and rng.random() < 0.55:
        path.append(rng.choice(others))
        remaining = [c for c in available if c not in path]
        if remaining and rng.random() < 0.2:
            path.append(rng.choice(remaining))
    return path


class _Script:
    """Builds the steps of one conversation, keeping the running time, the channel and the dialogue."""

    def __init__(self, rng: random.Random, content: Content, plan: ConversationPlan, values: dict[str, str]) -> None:
        self.rng, self.content, self.plan, self.values = rng, content, plan, values
        self.phrases = content.phrases
        self.topic: Topic = content.topics[plan.topic]
        self.lang = plan.contact.language
        self.case = rng.choice(self.topic.cases[self.lang])
        self.exchanges = list(self.case.exchanges)
        self.at = timedelta(0)
        self.channel = ""

    def text(self, template: str) -> str:
        return template.format_map(self.values)

    def pick(self, options: tuple[str, ...]) -> str:
        return self.text(self.rng.choice(options))

    def next_exchange(self) -> tuple[str, str]:
        """The case's next (customer, agent) exchange; once they run out, the customer chases."""
        return self.exchanges.pop(0) if self.exchanges else self.phrases.chase[self.lang]

    def add(self, after: timedelta, action: Action, **kwargs: Any) -> None:
        self.at += after
        self.plan.steps.append(Step(self.at, action, **kwargs))

    def customer(self, after: timedelta, text: str, channel: str, attachment: tuple[str, str] | None = None) -> None:
        text = self.text(text)
        if self.channel and channel != self.channel:
            prev_via = self.content.organization.channels[self.channel].via[self.lang]
            switch = self.rng.choice(self.phrases.switch[self.lang]).format_map({**self.values, "prev_via": prev_via})
            text = f"{switch} {text}"
        subject = self.plan.subject if self.content.organization.channels[channel].subject else None
        self.channel = channel
        self.add(after, Action.INBOUND, text=text, channel=channel, attachment=attachment, subject=subject)

    def agent(self, after: timedelta, text: str) -> None:
        self.add(after, Action.REPLY, text=self.text(text), channel=self.channel, agent=self.plan.agent)

    def note(self, after: timedelta, options: dict[str, tuple[str, ...]]) -> None:
        organization = self.content.organization
        language = (
            organization.staff[self.plan.agent].language if self.plan.agent is not None else organization.language
        )
        self.add(after, Action.NOTE, text=self.pick(options[language]), agent=self.plan.agent)

    def status(self, after: timedelta, status: str) -> None:
        self.add(after, Action.STATUS, status=status, agent=self.plan.agent)


def _write_script(rng: random.Random, content: Content, plan: ConversationPlan, values: dict[str, str]) -> None:
    script = _Script(rng, content, plan, values)
    path = _channel_path(rng, plan.contact.channels(content.organization.channels))
    rounds = max(rng.choice((1, 2, 2)), len(path) - 1)
    script.customer(timedelta(0), script.case.opener, path[0])
    if script.case.evidence and rng.random() < 0.5:
        script.customer(minutes(rng, 1, 10), script.case.evidence, path[0], script.topic.evidence_file)
    if plan.status == "open" and plan.agent is None:
        # Just arrived and waiting in the team's queue: nobody has answered yet.
        script.add(minutes(rng, 0, 3), Action.ASSIGN)
        if rng.random() < 0.4:
            script.customer(minutes(rng, 20, 120), script.phrases.chase[script.lang][0], path[-1])
        return
    script.add(minutes(rng, 1, 25), Action.ASSIGN)
    script.agent(minutes(rng, 2, 8 * 60), script.case.answer)
    for round_ in range(rounds):
        question, answer = script.next_exchange()
        script.customer(minutes(rng, 5, 20 * 60), question, path[min(round_ + 1, len(path) - 1)])
        if plan.status == "open" and round_ == rounds - 1:
            return  # the customer is waiting for an answer
        script.agent(minutes(rng, 2, 8 * 60), answer)
        if rng.random() < 0.3:
            script.note(minutes(rng, 1, 15), script.topic.notes)
    _finish(script, rng, plan)


def _finish(script: _Script, rng: random.Random, plan: ConversationPlan) -> None:
    lang, phrases = script.lang, script.phrases
    if plan.status == "open":
        script.customer(minutes(rng, 5, 20 * 60), script.next_exchange()[0], script.channel)
        return
    if plan.status == "pending":
        script.agent(minutes(rng, 2, 60), script.topic.ask[lang])
        script.status(minutes(rng, 0, 2), "pending")
        return
    if plan.status == "snoozed":
        script.note(minutes(rng, 1, 30), phrases.snooze_note)
        script.status(minutes(rng, 0, 2), "snoozed")
        return
    if rng.random() < 0.6:
        script.customer(minutes(rng, 5, 12 * 60), rng.choice(phrases.thanks[lang]), script.channel)
    if rng.random() < 0.6:
        script.agent(minutes(rng, 1, 60), rng.choice(phrases.closing[lang]))
    script.status(minutes(rng, 0, 10), "resolved")
    if rng.random() < 0.08:
        # The customer comes back within the reopen window: the same conversation reopens.
        question, answer = rng.choice(phrases.reopen[lang])
        script.customer(
            timedelta(hours=rng.uniform(10, 60)),
            question,
            rng.choice(plan.contact.channels(script.content.organization.channels)),
        )
        script.agent(minutes(rng, 5, 6 * 60), answer)
        script.status(minutes(rng, 1, 30), "resolved")
    if plan.status == "closed":
        script.status(timedelta(days=2), "closed")


def _values(rng: random.Random, content: Content, contact: ContactPlan, agent: int | None) -> dict[str, str]:
    """What the case's ``{placeholders}`` become: order numbers, amounts, dates, in the customer's language."""
    people = content.people
    italian = contact.language == "it"
    product = rng.choice(people.products)[contact.language]
    amount = rng.randrange(990, 89900) / 100
    day = rng.randint(1, 28)
    month = rng.randrange(12)
    surname = contact.name.replace(contact.first_name, "").strip(" .").title() or contact.name
    surname_slug = ascii_slug(surname, "")
    return {
        "first": contact.first_name,
        "full_name": contact.name,
        "agent": content.organization.staff[agent].name.split()[0] if agent is not None else "",
        "order": f"BD-{rng.randrange(100000, 999999)}",
        "invoice": f"FT-{rng.randrange(1000, 9999)}/{rng.choice(('A', 'B'))}",
        "amount": f"{amount:.2f} €".replace(".", ",") if italian else f"€{amount:.2f}",
        "tracking": f"{rng.choice(('BRT', 'GLS', 'SDA'))}{rng.randrange(10**9, 10**10)}",
        "product": product,
        "city": contact.attributes.get("city") or rng.choice(people.cities),
        "date": f"{day} {people.months[contact.language][month]}",
        "ticket": f"T{rng.randrange(10000, 99999)}",
        "vat": f"{rng.randrange(10**10, 10**11)}",
        "sdi": "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(7)),
        "serial": f"{rng.randrange(10**8, 10**9)}",
        "card": f"{rng.randrange(10000):04d}",
        "company": f"{surname} {rng.choice(people.company_kinds)} S.r.l.",
        "new_email": f"{ascii_slug(contact.first_name, '.')}.{surname_slug}@{rng.choice(people.email_domains)}",
        "ref": "",
    }


def plan_conversation(
    rng: random.Random, content: Content, index: int, contact: ContactPlan, status: str
) -> ConversationPlan:
    """One conversation of ``contact`` that ends up in ``status``, with its steps (not yet placed in time)."""
    topics = content.topics
    topic_name = rng.choices(list(topics), weights=[topic.weight for topic in topics.values()])[0]
    topic = topics[topic_name]
    unassigned = status == "open" and rng.random() < 0.4
    agent = None if unassigned else _agent_for(rng, content, topic.team, contact.language)
    priority = rng.choices(PRIORITIES, weights=PRIORITY_WEIGHTS)[0]
    labels = list(topic.labels)
    if contact.attributes.get("vip"):
        labels.append("vip")
    if rng.random() < 0.1:
        labels.append("reclamo")
    plan = ConversationPlan(index, contact, topic_name, status, priority, labels, agent, rng.random() < 0.5)
    values = _values(rng, content, contact, agent)
    values["ref"] = topic.ref[contact.language].format_map(values)
    plan.subject = topic.subject[contact.language].format_map(values)
    _write_script(rng, content, plan, values)
    return plan
