"""Domain rules with plain values: identity normalization, continuity, transitions, duplicates, roles, hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raccordo.accounts.domain.roles import Permission, Role, can, can_grant
from raccordo.platform.errors import InvalidInput
from raccordo.platform.hours import parse_business_hours
from raccordo.record.domain.conversations import (
    ContinuityPolicy,
    ConversationStatus,
    ConversationSummary,
    check_transition,
    choose_conversation,
)
from raccordo.record.domain.duplicates import ContactProfile, duplicate_reasons, duplicate_score
from raccordo.record.domain.identities import (
    IdentityKind,
    equivalent_identities,
    fold_name,
    normalize_email,
    normalize_identity,
    normalize_phone,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mario.Rossi@Example.COM", "mario.rossi@example.com"),
        ("  anna@bücher.it ", "anna@xn--bcher-kva.it"),
        ("anna@XN--BCHER-KVA.IT", "anna@xn--bcher-kva.it"),
        ("x+tag@sub.example.org", "x+tag@sub.example.org"),
    ],
)
def test_email_normalization(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "no-at-sign", "a@b@c.it", "@example.com", "a@", "a b@example.com", "a@localhost", "a@-bad-.it"]
)
def test_invalid_emails_are_refused(raw):
    with pytest.raises(InvalidInput):
        normalize_identity("email", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("347 123 4567", "+393471234567"),
        ("+39 347 123 4567", "+393471234567"),
        ("0039 347-123-4567", "+393471234567"),
        ("393471234567", "+393471234567"),  # WhatsApp wa_id form
        ("06 6982 1234", "+390669821234"),  # Italian landline keeps its leading 0
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_normalization_to_e164(raw, expected):
    assert normalize_phone(raw, "IT") == expected


@pytest.mark.parametrize("raw", ["123", "not a number", "+39 000", "+999 1234567"])
def test_invalid_phones_are_refused(raw):
    with pytest.raises(InvalidInput) as error:
        normalize_identity("phone", raw)
    assert error.value.key == "identity.phone_invalid"


def test_unknown_kind_and_bad_ids_are_refused():
    with pytest.raises(InvalidInput) as error:
        normalize_identity("fax", "123")
    assert error.value.key == "identity.kind_unknown"
    with pytest.raises(InvalidInput):
        normalize_identity("telegram", "abc")
    with pytest.raises(InvalidInput):
        normalize_identity("external", "has spaces in it")
    assert normalize_identity("telegram", " 123456 ") == (IdentityKind.TELEGRAM, "123456")


def test_phone_and_whatsapp_are_equivalent_but_email_is_not():
    assert equivalent_identities(IdentityKind.PHONE, "+393471234567") == [(IdentityKind.WHATSAPP, "+393471234567")]
    assert equivalent_identities(IdentityKind.WHATSAPP, "+393471234567") == [(IdentityKind.PHONE, "+393471234567")]
    assert equivalent_identities(IdentityKind.EMAIL, "a@b.it") == []


_italian_mobiles = st.integers(min_value=3200000000, max_value=3999999999).map(str)


@given(_italian_mobiles, st.sampled_from(["{n}", "+39{n}", "+39 {n}", "0039{n}", "39{n}", "{a} {b}", "({a}) {b}"]))
def test_any_written_form_of_a_number_normalizes_the_same(national, form):
    number = phonenumbers.parse("+39" + national)
    if not phonenumbers.is_valid_number(number):
        return
    written = form.format(n=national, a=national[:3], b=national[3:])
    assert normalize_phone(written, "IT") == "+39" + national


@given(st.emails())
def test_email_normalization_is_idempotent(email):
    try:
        once = normalize_email(email)
    except InvalidInput:
        return
    assert normalize_email(once) == once
    assert normalize_email(once.upper()) == once


@given(st.sampled_from(list(IdentityKind)), st.text(max_size=40))
def test_normalization_is_idempotent_or_refuses(kind, value):
    try:
        normalized_kind, normalized = normalize_identity(kind, value)
    except InvalidInput:
        return
    assert normalize_identity(normalized_kind, normalized) == (normalized_kind, normalized)


def test_fold_name_ignores_case_accents_and_order():
    assert fold_name("Niccolò  ROSSI") == fold_name("rossi niccolo") != ""
    assert fold_name(None) == ""


NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _summary(id_, status, inbox_id=1, resolved_ago=None, active_ago=timedelta(hours=1)):
    return ConversationSummary(
        id_, ConversationStatus(status), inbox_id, NOW - resolved_ago if resolved_ago else None, NOW - active_ago
    )


def test_continuity_joins_the_latest_active_conversation_on_any_channel():
    candidates = [
        _summary(1, "open", inbox_id=1, active_ago=timedelta(hours=5)),
        _summary(2, "pending", inbox_id=2, active_ago=timedelta(hours=1)),
    ]
    assert choose_conversation(candidates, inbox_id=3, now=NOW, policy=ContinuityPolicy()).conversation_id == 2


def test_continuity_off_only_joins_the_same_inbox():
    candidates = [_summary(1, "open", inbox_id=1)]
    policy = ContinuityPolicy(across_channels=False)
    assert choose_conversation(candidates, inbox_id=2, now=NOW, policy=policy).conversation_id is None
    assert choose_conversation(candidates, inbox_id=1, now=NOW, policy=policy).conversation_id == 1


def test_resolved_reopens_within_window_only():
    recent = [_summary(1, "resolved", resolved_ago=timedelta(days=2))]
    old = [_summary(1, "resolved", resolved_ago=timedelta(days=30), active_ago=timedelta(days=30))]
    decision = choose_conversation(recent, 1, NOW, ContinuityPolicy(reopen_window=timedelta(days=7)))
    assert decision.conversation_id == 1 and decision.reopen
    assert choose_conversation(old, 1, NOW, ContinuityPolicy(reopen_window=timedelta(days=7))).conversation_id is None


def test_closed_is_final():
    with pytest.raises(InvalidInput):
        check_transition(ConversationStatus.CLOSED, ConversationStatus.OPEN)
    with pytest.raises(InvalidInput):
        check_transition(ConversationStatus.RESOLVED, ConversationStatus.PENDING)
    check_transition(ConversationStatus.RESOLVED, ConversationStatus.OPEN)
    assert choose_conversation([_summary(1, "closed")], 1, NOW, ContinuityPolicy()).conversation_id is None


def test_duplicate_reasons_and_score():
    a = ContactProfile(1, "Giulia Bianchi", frozenset({("email", "giulia.bianchi@gmail.com")}))
    b = ContactProfile(2, "BIANCHI Giulia", frozenset({("email", "giulia.bianchi@azienda.it")}))
    c = ContactProfile(3, "Someone Else", frozenset({("phone", "+393471234567")}))
    d = ContactProfile(4, None, frozenset({("whatsapp", "+393471234567")}))
    assert {r.code for r in duplicate_reasons(a, b)} == {"same_name", "same_email_user"}
    assert duplicate_score(duplicate_reasons(a, b)) >= 0.5
    assert duplicate_reasons(a, c) == []
    assert duplicate_score(duplicate_reasons(c, d)) >= 0.9


def test_roles():
    assert can(Role.AGENT, Permission.WORK) and not can(Role.AGENT, Permission.MERGE_CONTACTS)
    assert can(Role.SUPERVISOR, Permission.MERGE_CONTACTS) and not can(Role.SUPERVISOR, Permission.MANAGE_INBOXES)
    assert (
        can_grant(Role.ADMIN, Role.SUPERVISOR)
        and not can_grant(Role.ADMIN, Role.OWNER)
        and can_grant(Role.OWNER, Role.OWNER)
    )
    assert not can_grant(Role.SUPERVISOR, Role.AGENT)


def test_business_hours():
    hours = parse_business_hours(
        {"timezone": "Europe/Rome", "weekly": {"wed": [["09:00", "18:00"]]}, "closed_dates": ["2026-12-25"]}
    )
    assert hours.is_open(datetime(2026, 11, 25, 9, 30, tzinfo=UTC))  # 10:30 in Rome, a Wednesday
    assert not hours.is_open(datetime(2026, 11, 25, 17, 30, tzinfo=UTC))  # 18:30 in Rome
    assert not hours.is_open(datetime(2026, 11, 26, 10, tzinfo=UTC))  # Thursday: no hours
    with pytest.raises(InvalidInput) as error:
        parse_business_hours({"timezone": "Mars/Base"})
    assert error.value.field == "business_hours.timezone"
    with pytest.raises(InvalidInput):
        parse_business_hours({"weekly": {"mon": [["18:00", "09:00"]]}})
