"""What the demo is made of, as typed values: the organization, the people, the channels, what
customers and agents write, and the service's setup (queues, rules, SLA, templates, ...).

The words live in the JSON files under ``demo/data`` (``demo/content.py`` reads them); here they
are parsed and checked, so a typo in a data file (a topic's team that does not exist, a case with
no exchange) fails at once with its place named, not half-way through a load.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

LANGUAGES = ("it", "en")


class ContentError(ValueError):
    """A data file says something the demo cannot use."""


def ascii_slug(name: str, separator: str) -> str:
    """``"Nicolò D'Angelo"`` -> ``"nicolo.dangelo"``: for e-mail addresses made from names."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace("'", "")
    return separator.join(plain.split())


@dataclass(frozen=True)
class Staff:
    name: str
    role: str  # owner, admin, supervisor, agent
    language: str
    teams: tuple[str, ...]
    skills: dict[str, int]  # skill -> level, for agents

    def email(self, slug: str) -> str:
        return f"{ascii_slug(self.name, '.')}@{slug}.example"


@dataclass(frozen=True)
class Channel:
    """A channel the demo's customers write on: its inbox and how its messages look."""

    name: str
    inbox: str
    identity: str  # the identity kind its messages carry and replies are addressed to
    via: dict[str, str]  # how a customer says they wrote here before ("on WhatsApp")
    message_id: str  # the provider's message id, from a unique ``{stem}``
    subject: bool  # messages carry the conversation's subject
    also_identifies: tuple[str, ...]  # identity kinds sent along when the contact has them (a pre-chat form)
    settings: dict[str, Any] | None  # inbox settings for the inbox service; None: a history-only inbox
    # Secrets the inbox needs, made up at load time (random, never in the data): e.g. the access token
    # and app secret the provider sandbox is told to accept for the demo's WhatsApp number.
    generated_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Organization:
    tenant_name: str
    region: str
    language: str
    teams: dict[str, str]  # name -> description
    staff: tuple[Staff, ...]
    channels: dict[str, Channel]  # in the order customers' identities are looked up

    def index_of(self, role: str) -> int:
        return next(i for i, person in enumerate(self.staff) if person.role == role)


@dataclass(frozen=True)
class People:
    names: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]  # language -> (first names, last names)
    email_domains: tuple[str, ...]
    cities: tuple[str, ...]
    mobile_prefixes: tuple[str, ...]
    tiers: tuple[str, ...]
    company_kinds: tuple[str, ...]
    products: tuple[dict[str, str], ...]  # language -> the product's name
    months: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Case:
    """One request and how it goes: the opening message, the first answer, then (customer, agent) exchanges."""

    opener: str
    answer: str
    exchanges: tuple[tuple[str, str], ...]
    evidence: str | None  # a customer message that carries the topic's attachment


@dataclass(frozen=True)
class Topic:
    name: str
    team: str
    weight: int
    labels: tuple[str, ...]
    subject: dict[str, str]
    ref: dict[str, str]  # how the customer refers back to the request
    evidence_file: tuple[str, str]  # (filename, content type)
    ask: dict[str, str]  # the agent asks for something and waits (status pending)
    notes: dict[str, tuple[str, ...]]  # in the agent's language
    cases: dict[str, tuple[Case, ...]]


@dataclass(frozen=True)
class Phrases:
    switch: dict[str, tuple[str, ...]]  # the customer says they wrote elsewhere before
    chase: dict[str, tuple[str, str]]  # (customer, agent): "any news?"
    thanks: dict[str, tuple[str, ...]]
    closing: dict[str, tuple[str, ...]]
    reopen: dict[str, tuple[tuple[str, str], ...]]  # (customer, agent): the problem is back
    snooze_note: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Setup:
    """The service's configuration, passed as they are to the admin services."""

    office_hours: dict[str, Any]
    skills: tuple[str, ...]
    queue_defaults: dict[str, Any]
    queues: tuple[dict[str, Any], ...]  # team, name, skill, strategy, offer_timeout_seconds
    rules: tuple[dict[str, Any], ...]  # "queue" names the queue
    sla_policies: tuple[dict[str, Any], ...]
    templates: tuple[dict[str, Any], ...]  # name, shortcut, bodies by language
    wrap_up_codes: tuple[dict[str, Any], ...]
    script: dict[str, Any]
    agenda: tuple[dict[str, Any], ...]  # kind, channel, due, note


@dataclass(frozen=True)
class Content:
    organization: Organization
    people: People
    topics: dict[str, Topic]
    phrases: Phrases
    setup: Setup


def _by_language(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != set(LANGUAGES):
        raise ContentError(f"{where}: needs exactly the languages {', '.join(LANGUAGES)}")
    return value


def _texts(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    return {language: tuple(texts) for language, texts in _by_language(value, where).items()}


def _pairs(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for pair in value:
        customer, agent = (pair["customer"], pair["agent"]) if isinstance(pair, dict) else pair
        if not isinstance(customer, str) or not isinstance(agent, str):
            raise ContentError(f"{where}: needs (customer, agent) pairs of texts")
        pairs.append((customer, agent))
    if not pairs:
        raise ContentError(f"{where}: needs (customer, agent) pairs")
    return tuple(pairs)


def _organization(raw: dict[str, Any]) -> Organization:
    teams = {team["name"]: team["description"] for team in raw["teams"]}
    staff = tuple(
        Staff(
            person["name"],
            person["role"],
            person["language"],
            tuple(person.get("teams", ())),
            dict(person.get("skills", {})),
        )
        for person in raw["staff"]
    )
    for person in staff:
        unknown = set(person.teams) - set(teams)
        if unknown:
            raise ContentError(f"organization.staff {person.name}: unknown teams {sorted(unknown)}")
    roles = [person.role for person in staff]
    if roles[:3] != ["owner", "admin", "supervisor"]:
        raise ContentError("organization.staff: the first three are the owner, an admin and the supervisor")
    channels = {}
    for name, channel in raw["channels"].items():
        if ("settings" in channel) == bool(channel.get("history_only")):
            raise ContentError(
                f"organization.channels.{name}: either settings (created by the inbox service) or history_only"
            )
        if channel.get("generated_secrets") and "settings" not in channel:
            raise ContentError(f"organization.channels.{name}: generated_secrets need settings")
        if "{stem}" not in channel["message_id"]:
            raise ContentError(f"organization.channels.{name}: message_id needs a {{stem}}")
        channels[name] = Channel(
            name,
            channel["inbox"],
            channel["identity"],
            _by_language(channel["via"], f"organization.channels.{name}.via"),
            channel["message_id"],
            bool(channel.get("subject")),
            tuple(channel.get("also_identifies", ())),
            channel.get("settings"),
            tuple(channel.get("generated_secrets", ())),
        )
    tenant = raw["tenant"]
    return Organization(tenant["name"], tenant["region"], tenant["language"], teams, staff, channels)


def _people(raw: dict[str, Any]) -> People:
    names = {
        language: (tuple(pair["first"]), tuple(pair["last"]))
        for language, pair in _by_language(raw["names"], "people.names").items()
    }
    return People(
        names,
        tuple(raw["email_domains"]),
        tuple(raw["cities"]),
        tuple(raw["mobile_prefixes"]),
        tuple(raw["tiers"]),
        tuple(raw["company_kinds"]),
        tuple(_by_language(product, "people.products") for product in raw["products"]),
        _texts(raw["months"], "people.months"),
    )


def _topic(name: str, raw: dict[str, Any], teams: dict[str, str]) -> Topic:
    where = f"topics.{name}"
    if raw["team"] not in teams:
        raise ContentError(f"{where}: unknown team {raw['team']!r}")
    cases: dict[str, tuple[Case, ...]] = {}
    for language, items in _by_language(raw["cases"], f"{where}.cases").items():
        cases[language] = tuple(
            Case(
                case["opener"],
                case["answer"],
                _pairs(case["exchanges"], f"{where}.cases.{language}"),
                case.get("evidence"),
            )
            for case in items
        )
        if not cases[language]:
            raise ContentError(f"{where}.cases.{language}: no case")
    evidence = raw["evidence_file"]
    return Topic(
        name,
        raw["team"],
        int(raw["weight"]),
        tuple(raw["labels"]),
        _by_language(raw["subject"], f"{where}.subject"),
        _by_language(raw["ref"], f"{where}.ref"),
        (evidence["filename"], evidence["content_type"]),
        _by_language(raw["ask"], f"{where}.ask"),
        _texts(raw["notes"], f"{where}.notes"),
        cases,
    )


def _phrases(raw: dict[str, Any]) -> Phrases:
    return Phrases(
        _texts(raw["switch"], "phrases.switch"),
        {
            language: _pairs([pair], "phrases.chase")[0]
            for language, pair in _by_language(raw["chase"], "phrases.chase").items()
        },
        _texts(raw["thanks"], "phrases.thanks"),
        _texts(raw["closing"], "phrases.closing"),
        {
            language: _pairs(pairs, "phrases.reopen")
            for language, pairs in _by_language(raw["reopen"], "phrases.reopen").items()
        },
        _texts(raw["snooze_note"], "phrases.snooze_note"),
    )


def _setup(raw: dict[str, Any], teams: dict[str, str]) -> Setup:
    queues = tuple(raw["queues"])
    if sorted(queue["team"] for queue in queues) != sorted(teams):
        raise ContentError("setup.queues: one queue per team")
    names = {queue["name"] for queue in queues}
    for rule in raw["rules"]:
        if rule["queue"] not in names:
            raise ContentError(f"setup.rules {rule['name']}: unknown queue {rule['queue']!r}")
    return Setup(
        raw["office_hours"],
        tuple(raw["skills"]),
        raw["queue_defaults"],
        queues,
        tuple(raw["rules"]),
        tuple(raw["sla_policies"]),
        tuple(raw["templates"]),
        tuple(raw["wrap_up_codes"]),
        raw["script"],
        tuple(raw["agenda"]),
    )


def parse_content(
    organization: dict[str, Any],
    people: dict[str, Any],
    topics: dict[str, Any],
    phrases: dict[str, Any],
    setup: dict[str, Any],
) -> Content:
    """The data files' JSON, parsed and checked; ``ContentError`` names what is wrong."""
    try:
        org = _organization(organization)
        return Content(
            org,
            _people(people),
            {name: _topic(name, topic, org.teams) for name, topic in topics.items()},
            _phrases(phrases),
            _setup(setup, org.teams),
        )
    except ContentError:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # a missing key, a wrong shape
        raise ContentError(f"demo data: missing or malformed {exc}") from exc
