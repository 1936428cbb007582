"""Likely-duplicate detection between two contacts: reasons and a score, no I/O.

Provably-same identities (same email, same E.164 number) link automatically in the
identity service; what is only *likely* the same becomes a merge suggestion that a
person confirms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raccordo.record.domain.identities import PHONE_NUMBER_KINDS, IdentityKind, fold_name


@dataclass(frozen=True)
class ContactProfile:
    id: int
    name: str | None
    identities: frozenset[tuple[str, str]] = field(default_factory=frozenset)


@dataclass(frozen=True)
class DuplicateReason:
    code: str
    score: float


def _email_locals(profile: ContactProfile) -> set[str]:
    return {value.split("@", 1)[0] for kind, value in profile.identities if kind == IdentityKind.EMAIL.value}


def _numbers(profile: ContactProfile) -> set[str]:
    kinds = {k.value for k in PHONE_NUMBER_KINDS}
    return {value for kind, value in profile.identities if kind in kinds}


def duplicate_reasons(a: ContactProfile, b: ContactProfile) -> list[DuplicateReason]:
    if a.id == b.id:
        return []
    reasons: list[DuplicateReason] = []
    if _numbers(a) & _numbers(b):
        reasons.append(DuplicateReason("same_phone_number", 0.95))
    same_name = bool(fold_name(a.name)) and fold_name(a.name) == fold_name(b.name)
    if same_name:
        reasons.append(DuplicateReason("same_name", 0.5))
    shared_locals = {local for local in _email_locals(a) & _email_locals(b) if len(local) >= 4}
    if shared_locals:
        reasons.append(DuplicateReason("same_email_user", 0.6 if not same_name else 0.3))
    return reasons


def duplicate_score(reasons: list[DuplicateReason]) -> float:
    """Combine independent reasons: 1 - product of (1 - score)."""
    remaining = 1.0
    for reason in reasons:
        remaining *= 1.0 - reason.score
    return round(1.0 - remaining, 3)


SUGGESTION_THRESHOLD = 0.5
