"""Password hashing: Argon2id with parameters from the configuration.

Production keeps the library's RFC 9106 low-memory profile (3 passes, 64 MiB, 4 lanes): the cost
is what makes a stolen hash expensive to guess. A test suite hashes hundreds of passwords and sets
``RACCORDO_PASSWORD_HASH=test`` (the cheapest profile); a hash carries its own parameters, so one
made at either cost verifies under the other, and a production server rehashes a cheap one at the
next login (``needs_rehash``)."""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from raccordo.platform.config import Settings, get_settings

PROFILES = {"production": profiles.RFC_9106_LOW_MEMORY, "test": profiles.CHEAPEST}


def hasher_for(settings: Settings) -> PasswordHasher:
    """The hasher the settings describe: a profile, with passes or memory overridden when given."""
    params = PROFILES[settings.password_hash]
    hasher = PasswordHasher.from_parameters(params)
    if settings.password_hash_time_cost is None and settings.password_hash_memory_kib is None:
        return hasher
    memory = settings.password_hash_memory_kib or params.memory_cost
    if memory < 8 * params.parallelism:
        # Argon2 needs 8 KiB per lane; refuse at start rather than at the first login.
        raise ValueError(
            f"RACCORDO_PASSWORD_HASH_MEMORY_KIB must be at least {8 * params.parallelism}"
            f" with the {settings.password_hash} profile"
        )
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost or params.time_cost,
        memory_cost=memory,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        salt_len=params.salt_len,
        type=params.type,
    )


_hasher: PasswordHasher | None = None
_dummy_hash: str | None = None


def configure(settings: Settings) -> None:
    """Use these settings' parameters from now on (the app calls it with its runtime's settings;
    without a call the environment's settings apply)."""
    global _hasher, _dummy_hash
    _hasher, _dummy_hash = hasher_for(settings), None


def _current() -> PasswordHasher:
    global _hasher
    if _hasher is None:
        _hasher = hasher_for(get_settings())
    return _hasher


def hash_password(password: str) -> str:
    return _current().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``. Without a stored hash (an unknown email, a user
    with no password yet) a dummy hash is checked instead, so the answer takes as long either way
    and timing does not tell which emails exist."""
    global _dummy_hash
    if not stored:
        if _dummy_hash is None:
            _dummy_hash = _current().hash("a dummy password nobody has")
        with contextlib.suppress(VerificationError, InvalidHashError):
            _current().verify(_dummy_hash, password)
        return False
    try:
        return _current().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _current().check_needs_rehash(stored)
