"""What an inbox needs to reach a customer beyond its settings: the credentials (secrets) it sends with,
and, for page-scoped ids (Messenger PSID, Instagram IGSID), the page the customer wrote to. The channels'
hooks (``can_deliver`` with the names of the secrets set, ``can_address``), the ranking's reason, and the
reach service over real inboxes, a contact and a conversation (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import sessionmaker

from raccordo.channels.base import get_channel
from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.reach import Availability, ReplyRoute, rank_reply_routes
from raccordo.channels.models import Inbox
from raccordo.channels.services.reach import ranked_routes
from raccordo.platform.i18n import translate
from raccordo.platform.secretbox import secret_names
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Contact, ContactIdentity, Conversation

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
TWILIO = {"provider": "twilio", "sender": "+390212345678", "twilio_account_sid": "AC1"}
VONAGE_KEY = {"provider": "vonage", "sender": "Raccordo", "vonage_api_key": "k1"}
VONAGE_APP = {"provider": "vonage", "sender": "Raccordo", "vonage_application_id": "app-1"}


def channel(kind: str):
    implementation = get_channel(kind)
    assert implementation is not None
    return implementation


@pytest.mark.parametrize(
    ("kind", "settings", "secrets", "delivers"),
    [
        ("telegram", {}, set(), False),
        ("telegram", {}, {"webhook_secret"}, False),
        ("telegram", {}, {"bot_token"}, True),
        ("whatsapp", {"phone_number_id": "1"}, {"app_secret", "verify_token"}, False),
        ("whatsapp", {"phone_number_id": "1"}, {"access_token"}, True),
        ("whatsapp", {}, {"access_token"}, False),
        ("sms", TWILIO, set(), False),
        ("sms", TWILIO, {"twilio_auth_token"}, True),
        ("sms", {**TWILIO, "twilio_account_sid": ""}, {"twilio_auth_token"}, False),
        ("sms", VONAGE_KEY, {"vonage_signature_secret"}, False),
        ("sms", VONAGE_KEY, {"vonage_api_secret"}, True),
        ("sms", VONAGE_APP, {"vonage_private_key"}, True),
        ("sms", VONAGE_APP, {"twilio_auth_token"}, False),
        ("messenger", {"page_id": "p1"}, {"app_secret"}, False),
        ("messenger", {"page_id": "p1"}, {"access_token"}, True),
        ("instagram", {"page_id": "p1", "account_id": "ig1"}, set(), False),
        ("instagram", {"page_id": "p1", "account_id": "ig1"}, {"access_token"}, True),
        # The overrides that read settings only keep working.
        ("api", {"callback_url": "https://crm.example.com/hook"}, set(), True),
        ("api", {}, {"hmac_secret"}, False),
        ("email", {"smtp_host": "smtp.example.com"}, set(), True),
        ("email", {}, {"smtp_password"}, False),
    ],
)
def test_can_deliver_needs_the_credential_the_channel_sends_with(kind, settings, secrets, delivers):
    assert channel(kind).can_deliver(settings, frozenset(secrets)) is delivers


@pytest.mark.parametrize("kind", ["messenger", "instagram"])
def test_a_page_scoped_id_is_addressable_only_from_its_own_page(kind):
    settings = {"page_id": "p1"} | ({"account_id": "ig1"} if kind == "instagram" else {})
    own = settings.get("account_id", "p1")
    meta = channel(kind)
    assert meta.can_address(settings, f"{own}:PSID-1")
    assert meta.can_address(settings, "PSID-1")  # a bare id (older rows) names no page
    assert not meta.can_address(settings, "other-page:PSID-1")
    assert not meta.can_address(settings, f"{own}:")
    # Channels whose identities reach from any inbox say yes.
    assert channel("telegram").can_address({}, "12345") and channel("sms").can_address(TWILIO, "+39333")


def test_the_ranking_names_an_identity_of_another_page():
    rules = ComposerRules(reply_window_seconds=24 * 3600)

    def meta(inbox_id: int, **changes: object) -> ReplyRoute:
        values: dict[str, object] = {"delivers": True, "reply_identity_kinds": ("messenger",), "rules": rules}
        return ReplyRoute(inbox_id, f"Page {inbox_id}", "messenger", True, **(values | changes))  # type: ignore[arg-type]

    result = rank_reply_routes(
        [
            meta(1, unaddressable_kinds=frozenset({"messenger"})),
            meta(2, last_inbound_at=NOW - timedelta(hours=1)),
            # No delivery is the first reason found, before the identity.
            meta(3, delivers=False, unaddressable_kinds=frozenset({"messenger"})),
            # A kind the channel does not write to changes nothing.
            meta(4, unaddressable_kinds=frozenset({"email"}), last_inbound_at=NOW - timedelta(hours=2)),
        ],
        {"messenger"},
        last_inbox_id=2,
        now=NOW,
    )
    assert [(r.inbox_id, r.availability, r.reason.key if r.reason else None) for r in result] == [
        (2, Availability.FREE, "reach.window_open"),
        (4, Availability.FREE, "reach.window_open"),
        (1, Availability.UNAVAILABLE, "reach.other_account"),
        (3, Availability.UNAVAILABLE, "reach.no_delivery"),
    ]
    other = result[2].reason
    assert other.params == {"name": "Page 1"} and result[2].identity_kind is None
    for language in ("en", "it"):
        text = translate(other.key, language, **other.params)
        assert "Page 1" in text and other.key not in text


def test_secret_names_come_from_the_runtimes_box_and_never_carry_values(rt):
    sealed = rt.secretbox.seal({"bot_token": "123:abc", "webhook_secret": "", "app_secret": "s"})
    with rt.sessions() as session:
        assert secret_names(session, sealed) == frozenset({"bot_token", "app_secret"})
        assert secret_names(session, None) == frozenset()
    # A session not made by a runtime's factory has no box: no secret counts as set.
    with sessionmaker(rt.engine)() as bare:
        assert secret_names(bare, sealed) == frozenset()


def _inbox(session, rt, tenant_id: int, name: str, kind: str, settings: dict, secrets: dict) -> Inbox:
    inbox = Inbox(
        tenant_id=tenant_id,
        name=name,
        channel=kind,
        identifier=f"reach-{name}-{tenant_id}".replace(" ", "-").lower(),
        settings=settings,
        secrets_encrypted=rt.secretbox.seal(secrets),
    )
    session.add(inbox)
    session.flush()
    return inbox


def test_the_reach_service_reads_secrets_and_page_scoped_identities(rt, org):
    with unit_of_work(rt.sessions) as session:
        tenant = org.tenant_id
        pages = {
            "page A": _inbox(session, rt, tenant, "Page A", "messenger", {"page_id": "pa"}, {"access_token": "t"}),
            "page B": _inbox(session, rt, tenant, "Page B", "messenger", {"page_id": "pb"}, {"access_token": "t"}),
            "ig": _inbox(
                session, rt, tenant, "Insta", "instagram", {"page_id": "pa", "account_id": "ig1"}, {"app_secret": "s"}
            ),
            "bot": _inbox(session, rt, tenant, "Bot", "telegram", {}, {"webhook_secret": "w"}),
            "bot with token": _inbox(session, rt, tenant, "Bot 2", "telegram", {}, {"bot_token": "1:a"}),
            "sms": _inbox(session, rt, tenant, "SMS", "sms", VONAGE_KEY, {"vonage_signature_secret": "x"}),
        }
        contact = Contact(tenant_id=tenant, name="Giulia Conti")
        session.add(contact)
        session.flush()
        for kind, value in [("messenger", "pa:PSID-9"), ("telegram", "4242"), ("phone", "+393331234567")]:
            session.add(ContactIdentity(tenant_id=tenant, contact_id=contact.id, kind=kind, value=value))
        conversation = Conversation(tenant_id=tenant, contact_id=contact.id, last_inbox_id=pages["page A"].id)
        session.add(conversation)
        session.flush()
        last = {pages["page A"].id: NOW - timedelta(hours=1), pages["bot with token"].id: NOW - timedelta(hours=2)}
        ranked = ranked_routes(session, conversation, last_inbound=last, now=NOW)
    reasons = {r.route.name: (r.availability, r.reason.key if r.reason else None) for r in ranked}
    assert reasons == {
        "Page A": (Availability.FREE, "reach.window_open"),
        "Bot 2": (Availability.FREE, None),
        "Page B": (Availability.UNAVAILABLE, "reach.other_account"),
        "Insta": (Availability.UNAVAILABLE, "reach.no_delivery"),
        "Bot": (Availability.UNAVAILABLE, "reach.no_delivery"),
        "SMS": (Availability.UNAVAILABLE, "reach.no_delivery"),
    }
    assert [r.route.name for r in ranked[:2]] == ["Page A", "Bot 2"]
