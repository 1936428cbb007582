"""The demo's content files and its pure planner: no database, so these run in milliseconds."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from itertools import pairwise

import pytest

from raccordo.demo.content import FILES, load_content
from raccordo.demo.domain.content import ContentError, parse_content
from raccordo.demo.domain.people import CONTACT_COUNT, DUPLICATE_PAIRS, HISTORY_DAYS
from raccordo.demo.domain.plan import Action, DemoPlan
from raccordo.demo.domain.planner import CONVERSATION_COUNT, GAP_BETWEEN_CONVERSATIONS, plan_demo

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def plan() -> DemoPlan:
    return plan_demo(load_content(), 7, NOW)


def _raw() -> dict[str, dict]:  # type: ignore[type-arg]
    return {
        name: json.loads((files("raccordo.demo") / "data" / f"{name}.json").read_text(encoding="utf-8"))
        for name in FILES
    }


def test_the_content_files_describe_the_promised_organization() -> None:
    content = load_content()
    organization = content.organization
    assert sorted(organization.teams) == ["Assistenza clienti", "Fatturazione", "Supporto tecnico"]
    assert [person.role for person in organization.staff] == ["owner", "admin", "supervisor"] + ["agent"] * 8
    assert {person.language for person in organization.staff if person.role == "agent"} == {"it", "en"}
    assert all(person.teams and person.skills for person in organization.staff if person.role == "agent")
    assert len(content.setup.queues) == 3 and len(content.setup.rules) == 5 and len(content.setup.sla_policies) == 2
    assert content.setup.templates and content.setup.wrap_up_codes and content.setup.script["steps"]
    for topic in content.topics.values():
        assert all(case.exchanges for cases in topic.cases.values() for case in cases)


@pytest.mark.parametrize(
    ("name", "break_it", "message"),
    [
        ("topics", lambda raw: raw["delivery"].update(team="Magazzino"), "topics.delivery: unknown team 'Magazzino'"),
        ("organization", lambda raw: raw["channels"]["email"].update(history_only=True), "either settings"),
        (
            "organization",
            lambda raw: raw["channels"]["sms"].update(
                history_only=True, generated_secrets=["access_token"], settings=None
            )
            or raw["channels"]["sms"].pop("settings"),
            "organization.channels.sms: generated_secrets need settings",
        ),
        ("phrases", lambda raw: raw["thanks"].pop("en"), "phrases.thanks: needs exactly the languages it, en"),
        ("setup", lambda raw: raw["rules"][0].update(queue="Nessuna"), "unknown queue 'Nessuna'"),
        ("people", lambda raw: raw.pop("cities"), "missing or malformed 'cities'"),
    ],
)
def test_a_broken_data_file_is_named(name: str, break_it, message: str) -> None:  # type: ignore[no-untyped-def]
    raw = copy.deepcopy(_raw())
    break_it(raw[name])
    with pytest.raises(ContentError) as error:
        parse_content(*(raw[file] for file in FILES))
    assert message in str(error.value)


def test_the_plan_is_the_same_for_a_seed_to_the_byte(plan: DemoPlan) -> None:
    assert plan_demo(load_content(), 7, NOW) == plan
    other = plan_demo(load_content(), 8, NOW)
    assert [c.name for c in other.contacts] != [c.name for c in plan.contacts]


def test_contacts_have_unique_identities_and_a_few_duplicates(plan: DemoPlan) -> None:
    assert len(plan.contacts) == CONTACT_COUNT
    values = [(kind, value) for contact in plan.contacts for kind, value in contact.identities.items()]
    assert len(values) == len(set(values))  # no contact resolves to another when loaded
    # The same person written differently ("G. Rossi", "ROSSI Giulia"), so merge suggestions exist.
    assert (
        len([c for c in plan.contacts if c.name.split()[0].endswith(".") or c.name.split()[0].isupper()])
        == DUPLICATE_PAIRS
    )
    assert all(contact.created_at < NOW - timedelta(days=HISTORY_DAYS) for contact in plan.contacts)
    assert sum(bool(contact.writes_from) for contact in plan.contacts) > 10  # WhatsApp from the phone number


def test_conversations_fit_the_history_in_order_and_apart(plan: DemoPlan) -> None:
    assert len(plan.conversations) == CONVERSATION_COUNT
    by_contact: dict[int, list] = {}  # type: ignore[type-arg]
    for conversation in plan.conversations:
        by_contact.setdefault(conversation.contact.index, []).append(conversation)
    assert len(by_contact) == CONTACT_COUNT and max(len(mine) for mine in by_contact.values()) <= 4
    for mine in by_contact.values():
        for before, after in pairwise(mine):
            assert after.starts_at() - (before.starts_at() + before.duration) >= GAP_BETWEEN_CONVERSATIONS
    timeline = plan.timeline()
    assert NOW - timedelta(days=HISTORY_DAYS) <= timeline[0].at and timeline[-1].at <= NOW
    assert [t.at for t in timeline] == sorted(t.at for t in timeline)


def test_every_conversation_tells_a_consistent_story(plan: DemoPlan) -> None:
    content = load_content()
    staff, channels = content.organization.staff, content.organization.channels
    switched = 0
    for conversation in plan.conversations:
        steps = conversation.steps
        assert steps[0].action is Action.INBOUND and steps[0].offset == timedelta(0)
        inbound = [s.channel for s in steps if s.action is Action.INBOUND]
        assert set(inbound) <= set(conversation.contact.channels(channels))
        switched += len(set(inbound)) > 1
        team = content.topics[conversation.topic].team
        if conversation.agent is None:
            assert conversation.status == "open" and not any(s.action is Action.REPLY for s in steps)
        else:
            assert team in staff[conversation.agent].teams
        statuses = [s.status for s in steps if s.action is Action.STATUS]
        if conversation.status == "open":  # the customer waits: for an answer, or in the team's queue
            assert steps[-1].action in (Action.INBOUND, Action.ASSIGN) and not statuses
        else:
            assert statuses[-1] == conversation.status
        for step in steps:
            if step.action is Action.INBOUND and step.attachment is not None:
                assert step.attachment_data and (
                    step.attachment[1] != "image/png" or step.attachment_data.startswith(b"\x89PNG")
                )
            if step.status == "snoozed":
                assert step.snooze_for is not None and timedelta(hours=12) <= step.snooze_for <= timedelta(hours=72)
    assert switched >= 100
    assert {c.status for c in plan.conversations} == {"open", "pending", "snoozed", "resolved", "closed"}


def test_provider_message_ids_are_unique_and_in_each_channels_form(plan: DemoPlan) -> None:
    ids = [t.step.provider_message_id for t in plan.timeline() if t.step.action in (Action.INBOUND, Action.REPLY)]
    assert all(ids) and len(ids) == len(set(ids))
    email = next(t.step for t in plan.timeline() if t.step.action is Action.INBOUND and t.step.channel == "email")
    assert email.provider_message_id and email.provider_message_id.endswith("@mail.example.com>") and email.subject


def test_the_agenda_is_due_after_now(plan: DemoPlan) -> None:
    assert [item.kind for item in plan.agenda] == ["callback", "follow_up"]
    assert plan.agenda[0].due_at == NOW + timedelta(hours=2)
    follow_up = plan.agenda[1].due_at
    assert follow_up > NOW and (follow_up.hour, follow_up.minute) == (10, 0) and str(follow_up.tzinfo) == "Europe/Rome"
