"""The demo's customers: names, identities on several channels, attributes, consent, and a few
likely duplicates (so merge suggestions exist). Drawn from the seeded generator only."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from raccordo.demo.domain.content import People, ascii_slug
from raccordo.demo.domain.plan import ContactPlan
from raccordo.record.domain.identities import IdentityKind

CONTACT_COUNT = 200
DUPLICATE_PAIRS = 8
HISTORY_DAYS = 90
CONSENT_PURPOSES = ("marketing_email", "marketing_whatsapp", "profiling")
# The demo's Messenger page (``data/organization.json``): PSIDs are page-scoped, so the demo's
# Messenger identities are ``<page id>:<PSID>`` as the channel writes them.
MESSENGER_PAGE_ID = "300000000000001"
# The demo's Instagram professional account (its own linked page): IGSIDs are scoped the same way.
INSTAGRAM_ACCOUNT_ID = "17841400000000001"


class Ids:
    """Unique, plausible identifiers drawn from the seeded generator."""

    def __init__(self, rng: random.Random, people: People) -> None:
        self.rng = rng
        self.people = people
        self.used: set[str] = set()

    def unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("could not draw a unique demo identifier")

    def mobile(self) -> str:
        return self.unique(lambda: f"+39{self.rng.choice(self.people.mobile_prefixes)}{self.rng.randrange(10**7):07d}")

    def email(self, name: str) -> str:
        local = ascii_slug(name, self.rng.choice((".", ".", "_", "")))

        def make() -> str:
            number = str(self.rng.randrange(10, 99))  # drawn first, even when unused: the sequence stays as it was
            return f"{local}{self.rng.choice(('', '', number))}@{self.rng.choice(self.people.email_domains)}"

        return self.unique(make)

    def digits(self, length: int) -> str:
        return self.unique(lambda: str(self.rng.randrange(10 ** (length - 1), 10**length)))

    def token(self, prefix: str, length: int) -> str:
        return self.unique(lambda: prefix + "".join(self.rng.choice("0123456789abcdef") for _ in range(length)))


def _person(rng: random.Random, people: People) -> tuple[str, str]:
    language = "it" if rng.random() < 0.78 else "en"
    first, last = people.names[language]
    return f"{rng.choice(first)} {rng.choice(last)}", language


def _attributes(rng: random.Random, people: People, at: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    attributes: dict[str, Any] = {}
    if rng.random() < 0.6:
        attributes["city"] = rng.choice(people.cities)
    if rng.random() < 0.5:
        attributes["customer_tier"] = rng.choices(people.tiers, weights=(50, 30, 15, 5))[0]
    if rng.random() < 0.08:
        attributes["vip"] = True
    if rng.random() < 0.3:
        attributes["orders_count"] = rng.randint(1, 40)
    consent: dict[str, Any] = {}
    if rng.random() < 0.55:
        for purpose in CONSENT_PURPOSES:
            if rng.random() < 0.7:
                consent[purpose] = {"granted": rng.random() < 0.75, "at": at.isoformat(), "by": None}
    return attributes, consent


def _identities(rng: random.Random, ids: Ids, name: str) -> tuple[dict[str, str], dict[str, str]]:
    identities: dict[str, str] = {}
    if rng.random() < 0.85:
        identities[IdentityKind.EMAIL] = ids.email(name)
    if rng.random() < 0.7:
        identities[IdentityKind.PHONE] = ids.mobile()
    # Many write on WhatsApp from the same mobile number: the product links it on the first message.
    writes_from = (
        {IdentityKind.WHATSAPP.value: identities[IdentityKind.PHONE]}
        if IdentityKind.PHONE in identities and rng.random() < 0.6
        else {}
    )
    if not writes_from and rng.random() < 0.1:
        identities[IdentityKind.WHATSAPP] = ids.mobile()
    if rng.random() < 0.15:
        identities[IdentityKind.TELEGRAM] = ids.digits(rng.choice((9, 10)))
    if rng.random() < 0.3:
        identities[IdentityKind.MESSENGER] = f"{MESSENGER_PAGE_ID}:{ids.digits(16)}"
    if rng.random() < 0.12:
        identities[IdentityKind.INSTAGRAM] = f"{INSTAGRAM_ACCOUNT_ID}:{ids.digits(16)}"
    if rng.random() < 0.4:
        identities[IdentityKind.WEB_VISITOR] = ids.token("wv_", 16)
    if rng.random() < 0.45 or not identities:
        identities[IdentityKind.EXTERNAL] = f"CRM-{ids.digits(6)}"
    return {str(kind): value for kind, value in identities.items()}, writes_from


def _duplicate_of(
    rng: random.Random, ids: Ids, people: People, original: ContactPlan, index: int, at: datetime
) -> ContactPlan:
    """A second record of the same person: same name written differently, or the same email user elsewhere."""
    identities: dict[str, str] = {}
    name = original.name
    email = original.identities.get(IdentityKind.EMAIL)
    if email is not None and rng.random() < 0.5:
        local = email.split("@", 1)[0]
        domains = [d for d in people.email_domains if not email.endswith("@" + d)]
        identities[IdentityKind.EMAIL] = ids.unique(lambda: f"{local}@{rng.choice(domains)}")
        first, *rest = original.name.split()
        name = f"{first[0]}. {' '.join(rest)}"
    else:
        # Same person, name in another order and case, reached on another channel.
        first, *rest = original.name.split()
        name = f"{' '.join(rest).upper()} {first}"
        kind = rng.choice((IdentityKind.MESSENGER, IdentityKind.TELEGRAM))
        identities[kind] = f"{MESSENGER_PAGE_ID}:{ids.digits(16)}" if kind == IdentityKind.MESSENGER else ids.digits(10)
    if rng.random() < 0.5:
        identities[IdentityKind.WEB_VISITOR] = ids.token("wv_", 16)
    return ContactPlan(
        index, name, original.first_name, original.language, {str(k): v for k, v in identities.items()}, {}, {}, {}, at
    )


def plan_contacts(rng: random.Random, ids: Ids, people: People, now: datetime) -> list[ContactPlan]:
    """``CONTACT_COUNT`` customers known before the history starts, ``DUPLICATE_PAIRS`` of them twice."""
    plans: list[ContactPlan] = []
    singles = CONTACT_COUNT - DUPLICATE_PAIRS
    for index in range(singles):
        name, language = _person(rng, people)
        created = now - timedelta(days=HISTORY_DAYS + 1) - timedelta(minutes=rng.randrange(300 * 24 * 60))
        identities, writes_from = _identities(rng, ids, name)
        attributes, consent = _attributes(rng, people, created)
        plans.append(
            ContactPlan(index, name, name.split()[0], language, identities, writes_from, attributes, consent, created)
        )
    for offset, original in enumerate(rng.sample(plans, DUPLICATE_PAIRS)):
        created = original.created_at + timedelta(days=rng.randint(1, 20))
        plans.append(
            _duplicate_of(
                rng, ids, people, original, singles + offset, min(created, now - timedelta(days=HISTORY_DAYS + 1))
            )
        )
    plans.sort(key=lambda p: (p.created_at, p.index))
    return plans
