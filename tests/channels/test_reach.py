"""The ranking of the inboxes that reach a customer (``channels/domain/reach.py``): every reason an inbox
is unavailable, template-only windows, the order (the customer's last inbox within its window first),
and properties over any set of inboxes (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.reach import Availability, ReplyRoute, first_reachable, rank_reply_routes

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
DAY = 24 * 3600
WHATSAPP = ComposerRules(reply_window_seconds=DAY, templates_outside_window=True)
MESSENGER = ComposerRules(reply_window_seconds=DAY)
API_KINDS = ("external", "email", "phone", "whatsapp")


def route(inbox_id: int, channel: str = "api", **changes: object) -> ReplyRoute:
    values: dict[str, object] = {
        "inbox_id": inbox_id,
        "name": f"{channel} {inbox_id}",
        "channel": channel,
        "active": True,
        "delivers": True,
        "reply_identity_kinds": {"api": API_KINDS, "whatsapp": ("whatsapp",), "email": ("email",)}.get(
            channel, (channel,)
        ),
        "rules": {"whatsapp": WHATSAPP, "messenger": MESSENGER}.get(channel, ComposerRules()),
        "last_inbound_at": None,
        "marketing_consent": False,
    }
    values.update(changes)
    return ReplyRoute(**values)  # type: ignore[arg-type]


def ranked(routes: list[ReplyRoute], kinds: set[str], last: int | None = None) -> list:
    return rank_reply_routes(routes, kinds, last_inbox_id=last, now=NOW)


def by_id(result: list) -> dict[int, object]:
    return {r.inbox_id: r for r in result}


def test_each_reason_an_inbox_is_unavailable():
    result = by_id(
        ranked(
            [
                route(1, active=False),
                route(2, delivers=False),
                route(3, "email"),
                route(4, "messenger", last_inbound_at=NOW - timedelta(hours=30)),
                route(5, "messenger"),
            ],
            {"phone", "messenger"},
        )
    )
    reasons = {inbox_id: (r.availability, r.reason.key) for inbox_id, r in result.items()}
    assert reasons == {
        1: (Availability.UNAVAILABLE, "reach.inactive"),
        2: (Availability.UNAVAILABLE, "reach.no_delivery"),
        3: (Availability.UNAVAILABLE, "reach.no_identity"),
        4: (Availability.UNAVAILABLE, "reach.window_closed"),
        5: (Availability.UNAVAILABLE, "reach.window_never"),
    }
    assert result[1].reason.params == {"name": "api 1"} and result[3].reason.params == {"kinds": "email"}
    assert result[4].reason.params == {"hours": "24", "closed_at": "2026-12-08 06:00 UTC"}
    # The first reason found wins: inactive before no delivery before no identity.
    only = ranked([route(9, "email", active=False, delivers=False)], set())[0]
    assert only.reason.key == "reach.inactive"


def test_a_closed_window_with_templates_is_template_only_and_says_when_and_about_consent():
    closed = route(1, "whatsapp", last_inbound_at=NOW - timedelta(hours=25))
    never = route(2, "whatsapp", marketing_consent=True)
    result = by_id(ranked([closed, never], {"whatsapp"}))
    assert result[1].availability is Availability.TEMPLATE_ONLY and result[1].available
    assert result[1].reason.key == "reach.window_closed_template"
    assert result[1].reason.params["closed_at"] == "2026-12-08 11:00 UTC"
    assert [n.key for n in result[1].notes] == ["reach.no_marketing_consent"]
    assert result[2].reason.key == "reach.window_never_template" and result[2].notes == ()
    assert first_reachable(ranked([closed], {"whatsapp"})) is None, "a free-form reply reaches nobody"
    assert first_reachable(ranked([closed], {"whatsapp"}), templates=True).inbox_id == 1


def test_an_open_window_says_until_when():
    open_ = ranked([route(1, "whatsapp", last_inbound_at=NOW - timedelta(hours=2))], {"whatsapp"})[0]
    assert open_.availability is Availability.FREE
    assert open_.reason.key == "reach.window_open" and open_.reason.params["until"] == "2026-12-09 10:00 UTC"
    assert open_.window_closes_at == NOW + timedelta(hours=22)
    assert ranked([route(2)], {"external"})[0].reason is None, "no window, nothing to say"


def test_the_customers_last_inbox_within_its_window_comes_first():
    api = route(1, last_inbound_at=NOW - timedelta(minutes=5))
    whatsapp = route(2, "whatsapp", last_inbound_at=NOW - timedelta(hours=1))
    email = route(3, "email")
    order = [r.inbox_id for r in ranked([email, api, whatsapp], {"whatsapp", "email", "external"}, last=2)]
    assert order == [2, 1, 3], "last inbox first, then by the customer's latest message, then never written on"
    # Its window closed: the others that reach them come first, it follows as template only.
    late = route(2, "whatsapp", last_inbound_at=NOW - timedelta(hours=30))
    result = ranked([email, api, late], {"whatsapp", "email", "external"}, last=2)
    assert [(r.inbox_id, r.availability) for r in result] == [
        (1, Availability.FREE),
        (3, Availability.FREE),
        (2, Availability.TEMPLATE_ONLY),
    ]
    assert result[2].last


def test_a_channels_own_identity_comes_before_the_api_reaching_the_same_number():
    # Neither was written on: WhatsApp answers its number as its first kind, the API as its fourth.
    result = ranked([route(1, last_inbound_at=None), route(2, "whatsapp", rules=ComposerRules())], {"whatsapp"})
    assert [(r.inbox_id, r.identity_kind) for r in result] == [(2, "whatsapp"), (1, "whatsapp")]


routes_strategy = st.lists(
    st.builds(
        route,
        inbox_id=st.integers(1, 10_000),
        channel=st.sampled_from(["api", "whatsapp", "email", "messenger", "telegram"]),
        active=st.booleans(),
        delivers=st.booleans(),
        last_inbound_at=st.one_of(st.none(), st.integers(0, 72 * 60).map(lambda m: NOW - timedelta(minutes=m))),
        marketing_consent=st.booleans(),
    ),
    max_size=12,
    unique_by=lambda r: r.inbox_id,
)
kinds_strategy = st.sets(st.sampled_from(["external", "email", "phone", "whatsapp", "messenger", "telegram"]))


@given(routes_strategy, kinds_strategy, st.one_of(st.none(), st.integers(1, 10_000)))
def test_ranking_properties(routes, kinds, last):
    result = ranked(routes, kinds, last)
    assert sorted(r.inbox_id for r in result) == sorted(r.inbox_id for r in routes), "every inbox, once"
    groups = [r.availability for r in result]
    order = [Availability.FREE, Availability.TEMPLATE_ONLY, Availability.UNAVAILABLE]
    assert groups == sorted(groups, key=order.index), "free, then template only, then unavailable"
    for reach in result:
        if reach.available:  # never an inactive inbox, one without delivery or without an identity
            assert reach.route.active and reach.route.delivers and reach.identity_kind in kinds
        else:
            assert reach.reason is not None
    free = [r for r in result if r.availability is Availability.FREE]
    if any(r.last for r in free):
        assert free[0].last, "the customer's last inbox, within its window, is the default"
    best = first_reachable(result)
    assert best is (free[0] if free else None)
