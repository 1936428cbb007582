"""Receiving a provider request: store it raw and commit, then verify, parse and ingest.

The raw row is committed before anything else happens, so a crash or a bug in parsing
loses nothing: the row stays ``pending`` (reprocessed on restart) or ``failed`` with its
error. Ingest retries on a unique-key race with a concurrent delivery of the same message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from raccordo.channels.base import ChannelRejected, DeliveryReport, InboxConfig, get_channel
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Inbox, RawInbound
from raccordo.platform.errors import NotFound, RaccordoError
from raccordo.record.services.ingest import IngestIgnored, apply_delivery_report, ingest_event
from raccordo.platform.runtime import Runtime

log = logging.getLogger(__name__)

# Headers worth keeping with a raw payload; cookies and authorization never are.
_KEPT_HEADERS = {"content-type", "user-agent", "x-raccordo-signature", "x-raccordo-timestamp", "x-forwarded-for", "x-request-id"}


@dataclass
class InboundOutcome:
    raw_id: int
    message_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    ignored: list[str] = field(default_factory=list)


def inbox_config(rt: Runtime, inbox: Inbox) -> InboxConfig:
    return InboxConfig(inbox.id, inbox.identifier, dict(inbox.settings), rt.secretbox.open(inbox.secrets_encrypted))


@dataclass(frozen=True)
class StoredPayload:
    """A committed raw row and what processing it needs, so the request path reads nothing twice."""

    raw_id: int
    channel_kind: str
    config: InboxConfig
    headers: dict[str, str]
    body: bytes


def store_raw(rt: Runtime, identifier: str, headers: dict[str, str], body: bytes, channel: str | None = None) -> StoredPayload:
    with unit_of_work(rt.sessions) as session:
        inbox = session.scalars(select(Inbox).where(Inbox.identifier == identifier, Inbox.active.is_(True))).one_or_none()
        if inbox is None or (channel is not None and inbox.channel != channel):
            raise NotFound("inbox.unknown_identifier", identifier=identifier)
        kept = {k.lower(): v for k, v in headers.items() if k.lower() in _KEPT_HEADERS or k.lower().startswith("x-")}
        kept.pop("authorization", None)
        raw = RawInbound(tenant_id=inbox.tenant_id, inbox_id=inbox.id, headers=kept, body=body, status="pending")
        session.add(raw)
        session.flush()
        return StoredPayload(raw.id, inbox.channel, inbox_config(rt, inbox), kept, body)


def load_stored(rt: Runtime, raw_id: int) -> StoredPayload | InboundOutcome:
    """A stored payload to process again, or its outcome when it was processed already."""
    with unit_of_work(rt.sessions) as session:
        raw = session.get_one(RawInbound, raw_id)
        if raw.status in ("processed", "ignored"):
            return InboundOutcome(raw.id, list(raw.message_ids))
        inbox = session.get_one(Inbox, raw.inbox_id)
        return StoredPayload(raw.id, inbox.channel, inbox_config(rt, inbox), dict(raw.headers), bytes(raw.body))


def process_raw(rt: Runtime, stored: StoredPayload | int) -> InboundOutcome:
    """Verify, parse and ingest one stored payload; record the outcome on the raw row."""
    if isinstance(stored, int):
        loaded = load_stored(rt, stored)
        if isinstance(loaded, InboundOutcome):
            return loaded
        stored = loaded
    raw_id, config = stored.raw_id, stored.config
    channel = get_channel(stored.channel_kind)
    try:
        if channel is None:
            raise ChannelRejected("channel.not_installed", status=422, channel=stored.channel_kind)
        events = channel.parse_inbound(config, stored.headers, stored.body)
        outcome = InboundOutcome(raw_id)
        for attempt in range(3):
            try:
                with unit_of_work(rt.sessions) as session:
                    inbox = session.get_one(Inbox, config.id)
                    outcome = InboundOutcome(raw_id)
                    ignored: list[str] = []
                    for event in events:
                        if isinstance(event, DeliveryReport):
                            # A bounce or status report: it updates our earlier message, it is not a new one.
                            updated = apply_delivery_report(session, inbox, event)
                            outcome.message_ids.extend(updated)
                            if not updated:
                                ignored.append(f"delivery report for unknown message(s) {', '.join(event.provider_message_ids)[:300] or '-'}: {event.reason[:300]}")
                            continue
                        result = ingest_event(session, rt.files, inbox, event, max_attachment_bytes=rt.settings.max_attachment_bytes)
                        outcome.message_ids.append(result.message.id)
                        outcome.duplicates += result.duplicate
                    raw = session.get_one(RawInbound, raw_id)
                    # "ignored": nothing to store (an auto-reply to nobody, a bounce of an unknown message); the reason stays.
                    status = "ignored" if ignored and not outcome.message_ids else "processed"
                    raw.status, raw.error, raw.message_ids = status, "; ".join(ignored)[:4000] or None, outcome.message_ids
                    raw.processed_at, raw.attempts = datetime.now(UTC), raw.attempts + 1
                    outcome.ignored = ignored
                return outcome
            except IngestIgnored as skipped:
                # Rolled back whole (no contact is created for an auto-reply from a stranger); the raw row says why.
                reason = f"automated message with no conversation to join ({skipped})"
                with unit_of_work(rt.sessions) as session:
                    raw = session.get_one(RawInbound, raw_id)
                    raw.status, raw.error, raw.processed_at, raw.attempts = "ignored", reason, datetime.now(UTC), raw.attempts + 1
                return InboundOutcome(raw_id, ignored=[reason])
            except (IntegrityError, OperationalError):
                # A concurrent request stored the same message or identity first: run again and find it.
                if attempt == 2:
                    raise
        return outcome
    except RaccordoError as exc:
        _mark(rt, raw_id, "rejected" if exc.status in (401, 403) else "failed", f"{exc.key} {exc.params}")
        raise
    except Exception as exc:
        log.exception("inbound payload %s failed", raw_id)
        _mark(rt, raw_id, "failed", f"{type(exc).__name__}: {exc}")
        raise


def _mark(rt: Runtime, raw_id: int, status: str, error: str) -> None:
    with unit_of_work(rt.sessions) as session:
        raw = session.get(RawInbound, raw_id)
        if raw is not None:
            raw.status, raw.error, raw.attempts = status, error[:4000], raw.attempts + 1


def receive(rt: Runtime, identifier: str, headers: dict[str, str], body: bytes, channel: str | None = None) -> InboundOutcome:
    """A provider's webhook request: refused (405) for channels that do not receive by webhook."""
    implementation = get_channel(channel) if channel is not None else None
    if implementation is not None and not implementation.webhook:
        raise ChannelRejected("channel.no_inbound", status=405)
    return process_raw(rt, store_raw(rt, identifier, headers, body, channel))


def reprocess_pending(rt: Runtime, older_than: timedelta = timedelta(seconds=30), limit: int = 100) -> int:
    """Process payloads left ``pending`` by a crash. Returns how many were processed."""
    cutoff = datetime.now(UTC) - older_than
    with unit_of_work(rt.sessions) as session:
        ids = list(session.scalars(select(RawInbound.id).where(RawInbound.status == "pending", RawInbound.received_at <= cutoff).order_by(RawInbound.id).limit(limit)))
    done = 0
    for raw_id in ids:
        try:
            process_raw(rt, raw_id)
            done += 1
        except Exception:  # recorded on the row by process_raw; go on with the others
            continue
    return done
