"""Inbound payloads: leased while in flight, unsigned bodies never stored, rejected requests rate-limited, retention."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from raccordo.accounts.models import Tenant
from raccordo.channels import signing
from raccordo.channels.domain.request import InboundRequest
from raccordo.channels.models import InboundRejection, RawInbound
from raccordo.channels.services import inbound, raw_retention
from raccordo.platform import jobs
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Job
from tests.helpers import create_api_inbox, customer_message, post_inbound

RACCORDO = str(Path(sys.executable).parent / "raccordo")


def _signed(inbox, message_id: str, email: str) -> tuple[dict[str, str], bytes]:
    body = json.dumps(customer_message(message_id, email=email)).encode()
    return {k.lower(): v for k, v in signing.sign(inbox.secret, body).items()}, body


def _raw(rt, raw_id: int) -> RawInbound:
    with unit_of_work(rt.sessions) as session:
        raw = session.get_one(RawInbound, raw_id)
        session.expunge(raw)
        return raw


# --- item 13: a payload in flight is never taken twice --------------------------------------------


def test_the_sweep_leaves_a_payload_in_flight_to_its_process_and_takes_it_after_a_crash(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    headers, body = _signed(inbox, "lease-1", "lease1@example.com")
    stored = inbound.store_raw(rt, inbox.identifier, InboundRequest.of("POST", "http://testserver/hook", headers, body))
    # The request that stored it is still working on it, a minute later (a slow parse, a busy machine).
    with unit_of_work(rt.sessions) as session:
        minute_ago = datetime.now(UTC) - timedelta(minutes=1)
        session.execute(update(RawInbound).where(RawInbound.id == stored.raw_id).values(received_at=minute_ago))
    inbound.reprocess_pending(rt)
    assert _raw(rt, stored.raw_id).status == "pending", "the sweep must not take a payload in flight"
    outcome = inbound.process_raw(rt, stored)  # the request finishes
    assert len(outcome.message_ids) == 1
    raw = _raw(rt, stored.raw_id)
    assert raw.status == "processed" and raw.attempts == 1 and raw.claimed_until is None

    # A process that died leaves its lease to expire; then one sweep, and only one, takes the payload.
    headers, body = _signed(inbox, "lease-2", "lease2@example.com")
    crashed = inbound.store_raw(
        rt, inbox.identifier, InboundRequest.of("POST", "http://testserver/hook", headers, body)
    ).raw_id
    after_lease = datetime.now(UTC) + timedelta(seconds=rt.settings.inbound_lease_seconds + 1)
    first = inbound.claim_pending(rt, timedelta(0), 10_000, now=after_lease)
    assert crashed in first
    assert crashed not in inbound.claim_pending(rt, timedelta(0), 10_000, now=after_lease), "claimed once"
    assert inbound.process_raw(rt, crashed).message_ids
    assert _raw(rt, crashed).status == "processed"


# --- item 9: unsigned bodies are counted, not stored ----------------------------------------------


def test_unsigned_posts_store_no_body_and_get_429_past_the_limit(client, rt, org, monkeypatch):
    monkeypatch.setattr(rt.settings, "inbound_rejections_per_minute", 5)
    inbox = create_api_inbox(client, org.headers())
    big = json.dumps({**customer_message("unsigned"), "text": "x" * 200_000}).encode()
    unsigned = {"Content-Type": "application/json"}
    statuses = [client.post(inbox.url, content=big, headers=unsigned).status_code for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    limited = client.post(inbox.url, content=big, headers={"Content-Type": "application/json"})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
    assert limited.headers["content-type"].startswith("application/problem+json")
    with unit_of_work(rt.sessions) as session:
        assert session.scalar(select(func.count()).select_from(RawInbound).where(RawInbound.inbox_id == inbox.id)) == 0
        rejections = list(session.scalars(select(InboundRejection).where(InboundRejection.inbox_id == inbox.id)))
    assert len(rejections) == 5, "past the limit nothing more is written"
    assert {r.reason for r in rejections} == {"signature.missing"} and {r.size for r in rejections} == {len(big)}
    assert all(r.tenant_id == org.tenant_id and r.remote for r in rejections)
    # A provider signing correctly is still served while the inbox is being flooded.
    accepted = post_inbound(client, inbox, customer_message("signed-ok", email="ok@example.com"))
    assert accepted.status_code == 200, accepted.text
    with unit_of_work(rt.sessions) as session:
        assert session.scalar(select(func.count()).select_from(RawInbound).where(RawInbound.inbox_id == inbox.id)) == 1


def test_malformed_but_signed_payload_is_still_kept(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    body = b'{"message_id": "m", "contact": {"identities": []}}'
    headers = {"Content-Type": "application/json", **signing.sign(inbox.secret, body)}
    response = client.post(inbox.url, content=body, headers=headers)
    assert response.status_code == 422
    with unit_of_work(rt.sessions) as session:
        raw = session.scalars(select(RawInbound).where(RawInbound.inbox_id == inbox.id)).one()
        assert raw.status == "failed" and raw.body == body and raw.claimed_until is None


# --- item 9: retention of raw payloads -------------------------------------------------------------


def _aged_payloads(client, rt, org, tag: str) -> dict[str, int]:
    """A processed payload 40 days old, a processed one 2 days old, a failed one 40 days old."""
    inbox = create_api_inbox(client, org.headers())
    ids = {}
    for name in ("old", "recent"):
        message = customer_message(f"{tag}-{name}", email=f"{tag}-{name}@example.com")
        assert post_inbound(client, inbox, message).status_code == 200
    headers = {"Content-Type": "application/json", **signing.sign(inbox.secret, b"{}")}
    failed = client.post(inbox.url, content=b"{}", headers=headers)
    assert failed.status_code == 422
    with unit_of_work(rt.sessions) as session:
        rows = list(session.scalars(select(RawInbound).where(RawInbound.inbox_id == inbox.id).order_by(RawInbound.id)))
        ids = {"old": rows[0].id, "recent": rows[1].id, "failed": rows[2].id}
        now = datetime.now(UTC)
        rows[0].processed_at = now - timedelta(days=40)
        rows[1].processed_at = now - timedelta(days=2)
        rows[2].received_at = now - timedelta(days=40)
    return ids


def _left(rt, ids: dict[str, int]) -> set[str]:
    with unit_of_work(rt.sessions) as session:
        present = set(session.scalars(select(RawInbound.id).where(RawInbound.id.in_(list(ids.values())))))
    return {name for name, raw_id in ids.items() if raw_id in present}


def test_processed_payloads_are_purged_after_the_retention_by_the_worker_job(client, rt, org, other_org):
    assert rt.settings.raw_retention_days == 30
    ids = _aged_payloads(client, rt, org, "ret")
    keeps = _aged_payloads(client, rt, other_org, "keep")
    with unit_of_work(rt.sessions) as session:
        raw_retention.set_raw_retention(session, other_org.tenant_id, 0)  # this organization keeps everything
    raw_retention.ensure_purge_job(rt)
    raw_retention.ensure_purge_job(rt)
    with unit_of_work(rt.sessions) as session:
        job = session.scalars(select(Job).where(Job.dedupe_key == raw_retention.PURGE_JOB)).one()
        session.execute(update(Job).where(Job.id == job.id).values(due_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert jobs.run_due(rt, kinds=[raw_retention.PURGE_JOB]) == 1
    assert _left(rt, ids) == {"recent", "failed"}, "only processed payloads past the retention go"
    assert _left(rt, keeps) == {"old", "recent", "failed"}
    with unit_of_work(rt.sessions) as session:
        job = session.scalars(select(Job).where(Job.dedupe_key == raw_retention.PURGE_JOB)).one()
        assert job.status == "pending" and job.due_at > datetime.now(UTC) + timedelta(hours=5), "it runs again later"
        assert job.result["raw_inbound"] >= 1
        assert session.get_one(Tenant, other_org.tenant_id).settings["raw_retention_days"] == 0
        raw_retention.set_raw_retention(session, other_org.tenant_id, None)
        assert "raw_retention_days" not in session.get_one(Tenant, other_org.tenant_id).settings


def test_purge_raw_command(client, rt, org, tmp_path):
    ids = _aged_payloads(client, rt, org, "cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACCORDO_") or k.startswith("RACCORDO_TEST_")}
    env.update(
        RACCORDO_DATA_DIR=str(tmp_path / "data"),
        RACCORDO_DATABASE_URL=rt.settings.resolved_database_url,
        RACCORDO_SECRET_KEY="test-secret-key",
    )

    def raccordo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RACCORDO, *args], env=env, capture_output=True, text=True, timeout=120)

    bad = raccordo("purge-raw", "--tenant", org.slug, "--days", "-1")
    assert bad.returncode == 2 and "0 (keep everything) or more" in bad.stderr
    done = raccordo("purge-raw", "--tenant", org.slug, "--days", "1")
    assert done.returncode == 0, done.stderr
    done = raccordo("purge-raw")
    assert done.returncode == 0, done.stderr
    assert "deleted" in done.stderr and "raw payloads" in done.stderr
    assert _left(rt, ids) == {"failed"}, "this organization keeps processed payloads one day"
