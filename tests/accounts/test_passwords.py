"""Password hashing parameters come from the configuration: production keeps Argon2id's RFC 9106
low-memory profile, the test suite runs at the cheapest cost (tests/conftest.py), and a hash made
at either cost verifies under the other."""

from __future__ import annotations

import uuid

import pytest
from argon2 import PasswordHasher, extract_parameters, profiles
from sqlalchemy import select

from raccordo.accounts.models import User
from raccordo.accounts.services import passwords
from raccordo.platform.config import Settings
from raccordo.platform.store.db import unit_of_work
from tests.support.logins import add_agent, log_in_directly


def test_production_parameters_are_the_argon2_defaults(monkeypatch):
    for name in ("RACCORDO_PASSWORD_HASH", "RACCORDO_PASSWORD_HASH_TIME_COST", "RACCORDO_PASSWORD_HASH_MEMORY_KIB"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.password_hash == "production"
    hasher = passwords.hasher_for(settings)
    library = PasswordHasher()  # what the code used before the cost became a setting
    assert (
        hasher.time_cost,
        hasher.memory_cost,
        hasher.parallelism,
        hasher.hash_len,
        hasher.salt_len,
        hasher.type,
    ) == (library.time_cost, library.memory_cost, library.parallelism, library.hash_len, library.salt_len, library.type)
    assert extract_parameters(hasher.hash("x")) == profiles.RFC_9106_LOW_MEMORY
    assert (hasher.time_cost, hasher.memory_cost) == (3, 65536)


def test_the_test_profile_is_cheap_and_its_hashes_verify_under_production():
    cheap, production = (
        passwords.hasher_for(Settings(password_hash="test")),
        passwords.hasher_for(Settings(password_hash="production")),
    )
    assert extract_parameters(cheap.hash("x")) == profiles.CHEAPEST
    made_cheap = cheap.hash("correct horse battery")
    assert production.verify(made_cheap, "correct horse battery")
    assert production.check_needs_rehash(made_cheap)  # a production server upgrades it at the next login
    assert cheap.verify(production.hash("correct horse battery"), "correct horse battery")


def test_explicit_cost_overrides_the_profile():
    hasher = passwords.hasher_for(
        Settings(password_hash="production", password_hash_time_cost=2, password_hash_memory_kib=19456)
    )
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (2, 19456, 4)
    assert hasher.verify(hasher.hash("x"), "x")
    with pytest.raises(ValueError, match="MEMORY_KIB"):  # 8 KiB per lane: refused at start, not at the first login
        passwords.hasher_for(Settings(password_hash="production", password_hash_memory_kib=16))


def test_this_suite_runs_at_the_cheap_cost(rt, org):
    with unit_of_work(rt.sessions) as session:
        stored = session.scalars(select(User.password_hash).where(User.id == org.users["owner"])).one()
    assert extract_parameters(stored).memory_cost == profiles.CHEAPEST.memory_cost


def test_a_production_server_rehashes_a_cheap_hash_at_login(rt, org):
    email = f"rehash-{uuid.uuid4().hex[:6]}@example.com"
    user_id = add_agent(rt, org.tenant_id, email, "a cheap password", "Rehash")
    passwords.configure(Settings(password_hash="production"))
    try:
        log_in_directly(rt, email, "a cheap password", f"rehash-{org.slug}")
        with unit_of_work(rt.sessions) as session:
            stored = session.get_one(User, user_id).password_hash
        assert extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY
    finally:
        passwords.configure(rt.settings)
