"""Which inboxes can reach a customer, in the order that will reach them, and why the others cannot. Pure.

The composer offers the result as its "answer on" choice (the first one is the default) and the reply
service uses the same first choice when no inbox is named. The order:

1. free-form replies: the inbox the customer last wrote on (within its message window) first, then the
   other inboxes by the customer's latest message there, then those they never wrote on, the channel's
   most specific identity kind first (a WhatsApp number on WhatsApp before the same number on the API);
2. template only: a message window closed (or never opened) on a channel whose provider still accepts
   its approved templates (WhatsApp);
3. unavailable, each with the first reason found: inbox inactive, nothing to deliver with (channel not
   installed, settings or secrets without a way to send), no identity of a kind the channel can write
   to, identities only another inbox can write to (a page-scoped Messenger id of another page), window
   closed without templates.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from raccordo.channels.domain.composer import ComposerRules, window_closes_at, window_open


class Availability(enum.StrEnum):
    FREE = "free"  # any reply the channel's composer rules allow
    TEMPLATE_ONLY = "template_only"  # only the provider's approved templates (window closed)
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ReplyRoute:
    """One inbox of the tenant, as the ranking needs to know it."""

    inbox_id: int
    name: str
    channel: str
    active: bool
    # The channel is installed and the inbox's settings give it a way to send (an API inbox's callback URL).
    delivers: bool
    reply_identity_kinds: tuple[str, ...]
    rules: ComposerRules
    # The customer's last message of the conversation on this inbox (what opens a message window).
    last_inbound_at: datetime | None = None
    # Identity kinds the contact has but none of whose values this inbox can write to (``Channel.can_address``:
    # Messenger and Instagram ids are scoped to the page the customer wrote to).
    unaddressable_kinds: frozenset[str] = frozenset()
    # The contact granted marketing consent for this channel (marketing templates need it).
    marketing_consent: bool = False


@dataclass(frozen=True)
class Note:
    """An i18n key and its values: why an inbox is unavailable, or what limits it."""

    key: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reach:
    """One inbox as the composer offers it."""

    route: ReplyRoute
    availability: Availability
    # The customer's last inbox (the conversation's ``last_inbox_id``).
    last: bool
    # Why it is unavailable or template only; for a free inbox with a window, until when it is open.
    reason: Note | None = None
    # What else the agent should know (no marketing consent: service templates only).
    notes: tuple[Note, ...] = ()
    identity_kind: str | None = None  # the kind of the contact's identity a reply goes to
    window_closes_at: datetime | None = None

    @property
    def inbox_id(self) -> int:
        return self.route.inbox_id

    @property
    def available(self) -> bool:
        return self.availability is not Availability.UNAVAILABLE


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _hours(rules: ComposerRules) -> str:
    return f"{round((rules.reply_window_seconds or 0) / 3600, 1):g}"


def assess(route: ReplyRoute, identity_kinds: Iterable[str], *, last_inbox_id: int | None, now: datetime) -> Reach:
    """One inbox: free, template only or unavailable, with the first reason found."""
    last = route.inbox_id == last_inbox_id
    kinds = set(identity_kinds) - route.unaddressable_kinds
    identity_kind = next((kind for kind in route.reply_identity_kinds if kind in kinds), None)

    def unavailable(key: str, **params: str) -> Reach:
        return Reach(route, Availability.UNAVAILABLE, last, Note(key, params), identity_kind=identity_kind)

    if not route.active:
        return unavailable("reach.inactive", name=route.name)
    if not route.delivers:
        return unavailable("reach.no_delivery", name=route.name)
    if identity_kind is None and route.unaddressable_kinds & set(route.reply_identity_kinds):
        return unavailable("reach.other_account", name=route.name)
    if identity_kind is None:
        return unavailable("reach.no_identity", kinds=", ".join(route.reply_identity_kinds) or "-")
    rules = route.rules
    closes = window_closes_at(rules, route.last_inbound_at)
    if window_open(rules, route.last_inbound_at, now):
        reason = Note("reach.window_open", {"hours": _hours(rules), "until": _when(closes)}) if closes else None
        return Reach(route, Availability.FREE, last, reason, identity_kind=identity_kind, window_closes_at=closes)
    # The window is closed, or the customer never wrote here.
    params = {"hours": _hours(rules)} | ({"closed_at": _when(closes)} if closes else {})
    stem = "reach.window_closed" if closes else "reach.window_never"
    if not rules.templates_outside_window:
        return unavailable(stem, **params)
    notes = () if route.marketing_consent else (Note("reach.no_marketing_consent"),)
    return Reach(
        route,
        Availability.TEMPLATE_ONLY,
        last,
        Note(stem + "_template", params),
        notes,
        identity_kind=identity_kind,
        window_closes_at=closes,
    )


def _order(reach: Reach) -> tuple[int, int, float, int, int]:
    group = {Availability.FREE: 0, Availability.TEMPLATE_ONLY: 1, Availability.UNAVAILABLE: 2}[reach.availability]
    wrote = reach.route.last_inbound_at
    recency = -wrote.timestamp() if wrote is not None else math.inf
    kinds = reach.route.reply_identity_kinds
    preference = kinds.index(reach.identity_kind) if reach.identity_kind in kinds else len(kinds)
    return (group, 0 if reach.last else 1, recency, preference, reach.route.inbox_id)


def rank_reply_routes(
    routes: Iterable[ReplyRoute], identity_kinds: Iterable[str], *, last_inbox_id: int | None, now: datetime
) -> list[Reach]:
    """Every inbox, the ones that will reach the customer first (see the module's docstring)."""
    kinds = frozenset(identity_kinds)
    return sorted((assess(route, kinds, last_inbox_id=last_inbox_id, now=now) for route in routes), key=_order)


def first_reachable(ranked: Iterable[Reach], *, templates: bool = False) -> Reach | None:
    """The default: the first inbox a free-form reply reaches the customer on; with ``templates``
    (the composer, which offers the template picker) a template-only one counts too."""
    wanted = {Availability.FREE, Availability.TEMPLATE_ONLY} if templates else {Availability.FREE}
    return next((reach for reach in ranked if reach.availability in wanted), None)
