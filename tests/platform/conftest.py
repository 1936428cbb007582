"""Fixtures shared by the platform tests."""

from __future__ import annotations

import uuid

import pytest

from tests.support.tenant_worlds import World, build_world


@pytest.fixture
def worlds(client, org, other_org) -> tuple[World, World]:
    """Two tenants' worlds (the caller's and another's) sharing a contact email, for the isolation tests."""
    shared_email = f"cliente-{uuid.uuid4().hex[:8]}@example.com"
    return build_world(client, org, shared_email), build_world(client, other_org, shared_email)
