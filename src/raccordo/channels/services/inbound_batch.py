"""Processing a poller's batch of stored payloads in one transaction: one savepoint per payload, one
commit and one statement recording every outcome.

``inbound.process_raw`` runs one transaction per payload (its own commit, its own search-index
and event-log writes, its own UPDATE of the raw row). A poll fetches tens of messages at once
(``store_raw_many`` stored them in one transaction already), so the batch is parsed first, then
ingested in one unit of work where each payload has its own savepoint: a payload that fails
rolls back alone and is handed to ``process_raw`` afterwards (which retries a unique-key race and
records any other failure on its raw row exactly as for a single payload). Nothing is lost: the
raw rows were committed before, and a crash leaves them ``pending`` for the worker's sweep
(ingest is idempotent by provider message id).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from raccordo.channels.base import DeliveryReport, InboundEvent, get_channel
from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import (
    _ASYNC_COMMIT,
    _RECORD_OUTCOME,
    InboundOutcome,
    StoredPayload,
    _attach,
    process_raw,
)
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.services.delivery_reports import apply_delivery_report
from raccordo.record.services.ingest import IngestIgnored, ingest_event

log = logging.getLogger(__name__)


@dataclass
class _Batch:
    parsed: list[tuple[StoredPayload, list[InboundEvent | DeliveryReport]]] = field(default_factory=list)
    alone: list[tuple[StoredPayload, list[InboundEvent | DeliveryReport] | None]] = field(default_factory=list)


def process_raw_many(rt: Runtime, stored: list[StoredPayload]) -> list[InboundOutcome | Exception]:
    """``process_raw`` for payloads of one inbox (a poll's batch), in order; each item is the payload's
    outcome, or the exception its processing ended with (recorded on its raw row)."""
    batch = _Batch()
    for payload in stored:
        channel = get_channel(payload.channel_kind)
        try:
            if channel is None:
                raise LookupError(payload.channel_kind)
            batch.parsed.append((payload, channel.parse_inbound(payload.config, payload.request)))
        except Exception:  # noqa: BLE001 - process_raw parses it again and records why it fails
            batch.alone.append((payload, None))
    outcomes: dict[int, InboundOutcome] = {}
    if batch.parsed:
        try:
            outcomes = _ingest_together(rt, batch)
        except Exception:  # noqa: BLE001 - the batch's commit failed: nothing of it stands, each goes alone
            log.warning("a batch of %d inbound payloads failed; processing them one by one", len(batch.parsed))
            batch.alone.extend(batch.parsed)
            outcomes = {}
    results: dict[int, InboundOutcome | Exception] = dict(outcomes)
    for payload, events in batch.alone:
        try:
            results[payload.raw_id] = process_raw(rt, payload, events)
        except Exception as exc:  # noqa: BLE001 - recorded on the raw row by process_raw
            results[payload.raw_id] = exc
    return [results[payload.raw_id] for payload in stored]


def _ingest_together(rt: Runtime, batch: _Batch) -> dict[int, InboundOutcome]:
    outcomes: dict[int, InboundOutcome] = {}
    failed: list[tuple[StoredPayload, list[InboundEvent | DeliveryReport]]] = []
    now = datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        if rt.engine.dialect.name == "postgresql":
            session.execute(_ASYNC_COMMIT)  # as process_raw: the raw rows were committed durably first
        attached: dict[int, Inbox] = {}  # inbox id -> its inbox merged into this session (once per batch)
        held: list[object] = []  # their tenants, held: the identity map keeps clean objects weakly
        for payload, events in batch.parsed:
            inbox_id = payload.config.id
            if inbox_id not in attached:
                attached[inbox_id], tenant = _attach(session, payload)
                held.append(tenant)
            inbox = attached[inbox_id]
            outcome = InboundOutcome(payload.raw_id)
            ignored: list[str] = []
            try:
                with session.begin_nested():
                    for event in events:
                        if isinstance(event, DeliveryReport):
                            updated = apply_delivery_report(session, inbox, event)
                            outcome.message_ids.extend(updated)
                            if not updated:
                                unknown = ", ".join(event.provider_message_ids)[:300] or "-"
                                ignored.append(
                                    f"delivery report for unknown message(s) {unknown}: {event.reason[:300]}"
                                )
                            continue
                        # A redelivered message is rare: the unique index catches it (its savepoint rolls
                        # back and process_raw, which looks it up, takes it alone).
                        result = ingest_event(
                            session,
                            rt.files,
                            inbox,
                            event,
                            max_attachment_bytes=rt.settings.max_attachment_bytes,
                            check_duplicate=False,
                        )
                        outcome.message_ids.append(result.message.id)
                        outcome.duplicates += result.duplicate
            except IngestIgnored as skipped:
                outcome = InboundOutcome(
                    payload.raw_id, ignored=[f"automated message with no conversation to join ({skipped})"]
                )
                outcomes[payload.raw_id] = outcome
                continue
            except Exception:  # noqa: BLE001 - rolled back to its savepoint; process_raw takes it alone after the commit
                failed.append((payload, events))
                continue
            outcome.ignored = ignored
            outcomes[payload.raw_id] = outcome
        if outcomes:
            session.execute(
                _RECORD_OUTCOME,
                [
                    {
                        "raw_id": raw_id,
                        "new_status": "ignored" if outcome.ignored and not outcome.message_ids else "processed",
                        "new_error": "; ".join(outcome.ignored)[:4000] or None,
                        "new_message_ids": outcome.message_ids,
                        "now": now,
                    }
                    for raw_id, outcome in outcomes.items()
                ],
            )
    batch.alone.extend(failed)
    return outcomes
