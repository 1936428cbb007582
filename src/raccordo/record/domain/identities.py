"""Identity kinds and their normalization.

An identity is (kind, normalized value), unique per tenant. Normalizing makes equal
things compare equal: emails lower-cased with an IDNA domain, phone numbers in E.164.
"""

from __future__ import annotations

import enum
import re
import unicodedata

import idna
import phonenumbers

from raccordo.platform.errors import InvalidInput


class IdentityKind(enum.StrEnum):
    EMAIL = "email"
    # Where a no-reply sender (a web form) asked answers to go: unverified, so it never links or
    # merges with an "email" identity (anyone can type anyone's address into a form).
    EMAIL_REPLY_TO = "email_reply_to"
    PHONE = "phone"  # SMS and voice
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    WEB_VISITOR = "web_visitor"
    EXTERNAL = "external"


# Kinds whose value is a phone number: the same E.164 number is provably the same person
# on SMS, voice and WhatsApp, so these identities link automatically.
PHONE_NUMBER_KINDS = frozenset({IdentityKind.PHONE, IdentityKind.WHATSAPP})

_EMAIL_LOCAL = re.compile(r"^[^\s@\"(),:;<>\[\]\\]+$")
_NUMERIC_ID = re.compile(r"^[0-9]{1,32}$")
_OPAQUE_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,200}$")
# Messenger PSIDs and Instagram IGSIDs are scoped to one page/account: the channels store them as
# "<page or account id>:<scoped id>", so the same person on two pages stays two identities.
_PAGE_SCOPED_ID = re.compile(r"^[0-9]{1,32}(:[0-9]{1,32})?$")


def normalize_email(value: str) -> str:
    value = value.strip()
    if value.count("@") != 1:
        raise InvalidInput("identity.email_invalid", value=value)
    local, domain = value.rsplit("@", 1)
    if not local or not domain or len(local) > 64 or not _EMAIL_LOCAL.match(local):
        raise InvalidInput("identity.email_invalid", value=value)
    try:
        # IDNA 2008 with UTS 46 mapping: "Bücher.IT" and "xn--bcher-kva.it" become the same.
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError:
        raise InvalidInput("identity.email_invalid", value=value) from None
    if "." not in ascii_domain:
        raise InvalidInput("identity.email_invalid", value=value)
    return f"{unicodedata.normalize('NFC', local).lower()}@{ascii_domain.lower()}"


def normalize_phone(value: str, default_region: str = "IT") -> str:
    raw = value.strip()
    # WhatsApp ids are the number's digits with no "+"; read long bare digit strings as international.
    if raw.isdigit() and len(raw) > 10 and not raw.startswith("0"):
        raw = "+" + raw
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidInput("identity.phone_invalid", value=value) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("identity.phone_invalid", value=value)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_identity(kind: IdentityKind | str, value: str, default_region: str = "IT") -> tuple[IdentityKind, str]:
    try:
        kind = IdentityKind(kind)
    except ValueError:
        raise InvalidInput(
            "identity.kind_unknown", kind=str(kind), known=", ".join(k.value for k in IdentityKind)
        ) from None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("identity.value_empty", kind=kind.value)
    if kind in (IdentityKind.EMAIL, IdentityKind.EMAIL_REPLY_TO):
        return kind, normalize_email(value)
    if kind in PHONE_NUMBER_KINDS:
        return kind, normalize_phone(value, default_region)
    value = value.strip()
    if kind in (IdentityKind.MESSENGER, IdentityKind.INSTAGRAM):
        if not _PAGE_SCOPED_ID.match(value):
            raise InvalidInput("identity.numeric_id_invalid", kind=kind.value, value=value)
        return kind, value
    if kind == IdentityKind.TELEGRAM:
        if not _NUMERIC_ID.match(value):
            raise InvalidInput("identity.numeric_id_invalid", kind=kind.value, value=value)
        return kind, value
    if not _OPAQUE_ID.match(value):
        raise InvalidInput("identity.opaque_id_invalid", kind=kind.value, value=value)
    return kind, value


def equivalent_identities(kind: IdentityKind, value: str) -> list[tuple[IdentityKind, str]]:
    """Other identities that are provably the same person as (kind, normalized value)."""
    if kind in PHONE_NUMBER_KINDS:
        return [(other, value) for other in sorted(PHONE_NUMBER_KINDS, key=lambda k: k.value) if other is not kind]
    return []


def fold_name(name: str | None) -> str:
    """Case-, accent- and spacing-insensitive form of a person's name for duplicate detection."""
    if not name:
        return ""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(sorted(re.sub(r"[^\w\s]", " ", letters.casefold()).split()))
