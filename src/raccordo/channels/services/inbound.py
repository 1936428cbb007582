"""Receiving a provider request: verify it, store it raw and commit, then parse and ingest.

The whole request is kept (``InboundRequest``: method, URL, query, headers, body; cookies and
``Authorization`` are dropped) so a channel can verify it from any part and a stored row can be
verified and parsed again. A ``GET`` on the webhook route is the provider's handshake, answered by
the channel (``Feature.HANDSHAKE``) and never stored; a ``POST`` is answered with the channel's own
body when it has one (``webhook_response``: TwiML), else with the stored and ingested ids.

A webhook request that fails authentication (bad or missing signature: the channel answers
401/403) is not stored: a compact ``inbound_rejections`` row (reason, client address, size,
SHA-256, never the body) is counted, and past ``RACCORDO_INBOUND_REJECTIONS_PER_MINUTE`` per
inbox the answer is 429 and nothing more is written. Every other request is stored raw and
committed before it is acknowledged, so a crash or a bug in parsing loses nothing: the row
stays ``pending`` (reprocessed after its lease) or ``failed`` with its error; a malformed
but authenticated payload is kept for inspection. Ingest retries on a unique-key race with
a concurrent delivery of the same message.

A raw row carries a lease (``claimed_until``) while a process works on it: the request that
stored it, or the worker sweep (``reprocess_pending``) that took it after a crash; the sweep
never takes a row whose lease is running, so a payload is never processed twice at once.

How long processed payloads are kept is ``raw_retention``'s business.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from raccordo.accounts.models import Tenant
from raccordo.channels.base import (
    ChannelRejected,
    DeliveryReport,
    Feature,
    InboundEvent,
    InboundRequest,
    InboxConfig,
    WebhookResponse,
    get_channel,
)
from raccordo.channels.models import InboundRejection, Inbox, RawInbound
from raccordo.platform import config_cache
from raccordo.platform.errors import NotFound, RaccordoError, TooManyRequests
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Base
from raccordo.record.services.delivery_reports import apply_delivery_report
from raccordo.record.services.ingest import IngestIgnored, ingest_event

log = logging.getLogger(__name__)

# Headers worth keeping with a raw payload; cookies and authorization never are.
_KEPT_HEADERS = {
    "content-type",
    "user-agent",
    "x-raccordo-signature",
    "x-raccordo-timestamp",
    "x-forwarded-for",
    "x-request-id",
}


@dataclass
class InboundOutcome:
    raw_id: int
    message_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    ignored: list[str] = field(default_factory=list)
    # What the provider expects back, when the channel answers in its own format.
    response: WebhookResponse | None = None


def inbox_config(rt: Runtime, inbox: Inbox) -> InboxConfig:
    return InboxConfig(inbox.id, inbox.identifier, dict(inbox.settings), rt.secretbox.open(inbox.secrets_encrypted))


@dataclass(frozen=True)
class StoredPayload:
    """A committed raw row and what processing it needs, so the request path reads nothing twice."""

    raw_id: int
    channel_kind: str
    config: InboxConfig
    request: InboundRequest
    # The inbox and its tenant as read with the raw row (detached, committed): processing merges
    # them into its own session without reading them again.
    inbox: Inbox | None = None
    tenant: Tenant | None = None


def _kept(headers: dict[str, str], also: frozenset[str] = frozenset()) -> dict[str, str]:
    kept = {k.lower(): v for k, v in headers.items() if k.lower() in _KEPT_HEADERS or k.lower().startswith("x-")}
    kept.pop("authorization", None)
    # A channel whose signature travels in a header dropped by default (``Channel.kept_headers``).
    kept.update({k.lower(): v for k, v in headers.items() if k.lower() in also})
    return kept


def _storable(request: InboundRequest, also: frozenset[str] = frozenset()) -> InboundRequest:
    """The request as it is stored and verified: only the headers worth keeping."""
    return InboundRequest(request.method, request.url, _kept(request.headers, also), request.body, request.query)


# A plain INSERT ... RETURNING id on the table (compiled once, cached): the raw row is never read
# back in the storing transaction, so it needs no ORM object and no flush.
_RAW = Base.metadata.tables[RawInbound.__tablename__]
_INSERT_RAW = insert(_RAW).returning(_RAW.c.id)


def _insert_raw(session: Session, tenant_id: int, inbox_id: int, request: InboundRequest, lease: timedelta) -> int:
    now = datetime.now(UTC)
    row = {
        "tenant_id": tenant_id,
        "inbox_id": inbox_id,
        "received_at": now,
        "method": request.method[:8],
        "url": request.url[:4000],
        "query": [list(pair) for pair in request.query],
        "headers": request.headers,
        "body": request.body,
        "status": "pending",
        "claimed_until": now + lease,
    }
    return int(session.execute(_INSERT_RAW, row).scalar_one())


def _stored_request(raw: RawInbound) -> InboundRequest:
    # Rows stored before the whole request was kept (migration 0015) have no method or URL: POSTs.
    query = tuple((str(k), str(v)) for k, v in (raw.query or []))
    return InboundRequest(raw.method or "POST", raw.url or "", dict(raw.headers), bytes(raw.body), query)


def _active_inbox(session: Session, identifier: str, channel: str | None) -> Inbox:
    return _active_inbox_and_tenant(session, identifier, channel)[0]


# Statements every message runs, built once.
_INBOX_AND_TENANT = (
    select(Inbox, Tenant)
    .join(Tenant, Tenant.id == Inbox.tenant_id)
    .where(Inbox.identifier == bindparam("identifier"), Inbox.active.is_(True))
)
# One UPDATE, no read of the row back (attempts counted in SQL).
_RECORD_OUTCOME = (
    update(_RAW)
    .where(_RAW.c.id == bindparam("raw_id"))
    .values(
        status=bindparam("new_status", type_=_RAW.c.status.type),
        error=bindparam("new_error", type_=_RAW.c.error.type),
        message_ids=bindparam("new_message_ids", type_=_RAW.c.message_ids.type),
        processed_at=bindparam("now", type_=_RAW.c.processed_at.type),
        attempts=_RAW.c.attempts + 1,
        claimed_until=None,
    )
)


def _active_inbox_and_tenant(session: Session, identifier: str, channel: str | None) -> tuple[Inbox, Tenant]:
    """The active inbox and its tenant (ingest needs the tenant's region and continuity): from the
    per-process configuration cache once the inbox's tenant is known (``platform.config_cache``
    says how soon a change is seen), else in one statement. The cached rows are detached and
    read-only: processing merges them into its own session."""
    key = ("channels.inbox", identifier)
    tenant_id = config_cache.owner(session, key)
    if tenant_id is None:
        row = _load_inbox_and_tenant(session, identifier)
        if row is not None:
            config_cache.remember_owner(session, key, row[0].tenant_id)
    else:
        row = config_cache.cached(session, tenant_id, key, lambda s: _load_inbox_and_tenant(s, identifier))
    if row is None or (channel is not None and row[0].channel != channel):
        raise NotFound("inbox.unknown_identifier", identifier=identifier)
    return row


def _load_inbox_and_tenant(session: Session, identifier: str) -> tuple[Inbox, Tenant] | None:
    row = session.execute(_INBOX_AND_TENANT, {"identifier": identifier}).one_or_none()
    return None if row is None else (row[0], row[1])


def inbound_lease(rt: Runtime) -> timedelta:
    """How long a raw payload stays reserved for the process working on it (RACCORDO_INBOUND_LEASE_SECONDS)."""
    return timedelta(seconds=rt.settings.inbound_lease_seconds)


def store_raw(rt: Runtime, identifier: str, request: InboundRequest, channel: str | None = None) -> StoredPayload:
    """Store and commit the raw request (a poller's fetched message, a socket's frame), leased to
    the caller, who processes it next with ``process_raw``."""
    request = _storable(request)
    with unit_of_work(rt.sessions) as session:
        inbox, tenant = _active_inbox_and_tenant(session, identifier, channel)
        raw_id = _insert_raw(session, inbox.tenant_id, inbox.id, request, inbound_lease(rt))
        return StoredPayload(raw_id, inbox.channel, inbox_config(rt, inbox), request, inbox, tenant)


def store_raw_many(
    rt: Runtime, identifier: str, requests: list[InboundRequest], channel: str | None = None
) -> list[StoredPayload]:
    """``store_raw`` for several requests of one inbox (a poller's fetched batch) in one transaction:
    one inbox look-up and one durable commit for the batch, not one per message."""
    storable = [_storable(request) for request in requests]
    with unit_of_work(rt.sessions) as session:
        inbox, tenant = _active_inbox_and_tenant(session, identifier, channel)
        lease, config = inbound_lease(rt), inbox_config(rt, inbox)
        return [
            StoredPayload(
                _insert_raw(session, inbox.tenant_id, inbox.id, request, lease),
                inbox.channel,
                config,
                request,
                inbox,
                tenant,
            )
            for request in storable
        ]


def load_stored(rt: Runtime, raw_id: int) -> StoredPayload | InboundOutcome:
    """A stored payload to process again, or its outcome when it was processed already."""
    with unit_of_work(rt.sessions) as session:
        raw = session.get_one(RawInbound, raw_id)
        if raw.status in ("processed", "ignored"):
            return InboundOutcome(raw.id, list(raw.message_ids))
        inbox = session.get_one(Inbox, raw.inbox_id)
        return StoredPayload(raw.id, inbox.channel, inbox_config(rt, inbox), _stored_request(raw))


# PostgreSQL: the processing transaction does not wait for its WAL flush. The raw row it works
# from was committed durably first, so if the server crashes before this commit reaches disk the
# row is found ``pending`` again and reprocessed after its lease (idempotent by provider message
# id): nothing is lost or stored twice, and each message costs one flush wait instead of two.
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")


def process_raw(
    rt: Runtime,
    stored: StoredPayload | int,
    events: list[InboundEvent | DeliveryReport] | None = None,
) -> InboundOutcome:
    """Verify, parse (unless ``events`` were parsed already) and ingest one stored payload;
    record the outcome on the raw row."""
    if isinstance(stored, int):
        loaded = load_stored(rt, stored)
        if isinstance(loaded, InboundOutcome):
            return loaded
        stored = loaded
    raw_id, config = stored.raw_id, stored.config
    channel = get_channel(stored.channel_kind)
    asynchronous_commit = rt.engine.dialect.name == "postgresql"
    try:
        if channel is None:
            raise ChannelRejected("channel.not_installed", status=422, channel=stored.channel_kind)
        if events is None:
            events = channel.parse_inbound(config, stored.request)
        outcome = InboundOutcome(raw_id)
        for attempt in range(3):
            try:
                with unit_of_work(rt.sessions) as session:
                    if asynchronous_commit:
                        session.execute(_ASYNC_COMMIT)
                    # (the tenant held: the identity map keeps clean objects weakly)
                    inbox, _tenant = _attach(session, stored)
                    outcome = InboundOutcome(raw_id)
                    ignored: list[str] = []
                    for event in events:
                        if isinstance(event, DeliveryReport):
                            # A bounce or status report: it updates our earlier message, it is not a new one.
                            updated = apply_delivery_report(session, inbox, event)
                            outcome.message_ids.extend(updated)
                            if not updated:
                                unknown = ", ".join(event.provider_message_ids)[:300] or "-"
                                ignored.append(
                                    f"delivery report for unknown message(s) {unknown}: {event.reason[:300]}"
                                )
                            continue
                        # A redelivered message is rare: the first attempt leaves the duplicate check to
                        # the unique index (IntegrityError, retried below with the look-up).
                        result = ingest_event(
                            session,
                            rt.files,
                            inbox,
                            event,
                            max_attachment_bytes=rt.settings.max_attachment_bytes,
                            check_duplicate=attempt > 0,
                        )
                        outcome.message_ids.append(result.message.id)
                        outcome.duplicates += result.duplicate
                    # "ignored": nothing to store (an auto-reply to nobody, a bounce of an unknown
                    # message); the reason stays.
                    status = "ignored" if ignored and not outcome.message_ids else "processed"
                    session.execute(
                        _RECORD_OUTCOME,
                        {
                            "raw_id": raw_id,
                            "new_status": status,
                            "new_error": "; ".join(ignored)[:4000] or None,
                            "new_message_ids": outcome.message_ids,
                            "now": datetime.now(UTC),
                        },
                    )
                    outcome.ignored = ignored
                return outcome
            except IngestIgnored as skipped:
                # Rolled back whole (no contact is created for an auto-reply from a stranger); the raw row says why.
                reason = f"automated message with no conversation to join ({skipped})"
                with unit_of_work(rt.sessions) as session:
                    raw = session.get_one(RawInbound, raw_id)
                    raw.status, raw.error, raw.processed_at, raw.attempts = (
                        "ignored",
                        reason,
                        datetime.now(UTC),
                        raw.attempts + 1,
                    )
                    raw.claimed_until = None
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


def _attach(session: Session, stored: StoredPayload) -> tuple[Inbox, Tenant | None]:
    """The payload's inbox and tenant in this session: the ones read with the raw row, merged
    without a query (ingest then finds the tenant in the identity map), else the inbox read again
    (a payload loaded by ``load_stored``)."""
    if stored.inbox is None or stored.tenant is None:
        return session.get_one(Inbox, stored.config.id), None
    return session.merge(stored.inbox, load=False), session.merge(stored.tenant, load=False)


def _mark(rt: Runtime, raw_id: int, status: str, error: str) -> None:
    with unit_of_work(rt.sessions) as session:
        raw = session.get(RawInbound, raw_id)
        if raw is not None:
            raw.status, raw.error, raw.attempts, raw.claimed_until = status, error[:4000], raw.attempts + 1, None


def receive(
    rt: Runtime,
    identifier: str,
    request: InboundRequest,
    channel: str | None = None,
    remote: str | None = None,
) -> InboundOutcome:
    """A provider's POST on the webhook route: refused (405) for channels that declare no ``WEBHOOK``.

    Authenticated first: a request the channel refuses with 401/403 is counted, not stored. The
    outcome carries the channel's own response, if it answers in a format of its own."""
    implementation = get_channel(channel) if channel is not None else None
    if implementation is not None and not implementation.supports(Feature.WEBHOOK):
        raise ChannelRejected("channel.no_inbound", status=405)
    received = request
    events: list[InboundEvent | DeliveryReport] | None = None
    rejected: ChannelRejected | None = None
    with unit_of_work(rt.sessions) as session:  # one transaction: the inbox, the check, the raw row
        inbox, tenant = _active_inbox_and_tenant(session, identifier, channel)
        config, implementation = inbox_config(rt, inbox), get_channel(inbox.channel)
        request = _storable(received, implementation.kept_headers if implementation is not None else frozenset())
        tenant_id, inbox_id = inbox.tenant_id, inbox.id
        if implementation is not None:
            try:
                events = implementation.parse_inbound(config, request)
            except ChannelRejected as exc:
                if exc.status in (401, 403):
                    rejected = exc
                # Otherwise authenticated but malformed: stored, failed by process_raw, kept for inspection.
            except Exception:  # noqa: BLE001 - a bug in the parser: the payload is stored, its row keeps the error
                log.warning("inbox %s: parsing a payload failed; stored with its error", inbox_id, exc_info=True)
        if rejected is None:
            raw_id = _insert_raw(session, tenant_id, inbox_id, request, inbound_lease(rt))
            stored = StoredPayload(raw_id, inbox.channel, config, request, inbox, tenant)
    if rejected is not None:
        _reject(rt, tenant_id, inbox_id, request.body, rejected.key, remote)
        raise rejected
    outcome = process_raw(rt, stored, events)
    if implementation is not None and events is not None:
        outcome.response = implementation.webhook_response(config, request, events)
    return outcome


def handshake(
    rt: Runtime, identifier: str, request: InboundRequest, channel: str | None, remote: str | None = None
) -> WebhookResponse:
    """A provider's GET on the webhook route (its verification of the URL): answered by the channel,
    never stored; refused (405) for channels that declare no ``HANDSHAKE``; a refusal for a wrong
    verify token is counted like a bad signature."""
    with unit_of_work(rt.sessions) as session:
        inbox = _active_inbox(session, identifier, channel)
        config, implementation = inbox_config(rt, inbox), get_channel(inbox.channel)
        tenant_id, inbox_id = inbox.tenant_id, inbox.id
    if implementation is None or not implementation.supports(Feature.HANDSHAKE):
        raise ChannelRejected("channel.no_handshake", status=405)
    try:
        return implementation.handshake(config, request)
    except ChannelRejected as exc:
        if exc.status in (401, 403):
            _reject(rt, tenant_id, inbox_id, request.url.encode(), exc.key, remote)
        raise


def _reject(rt: Runtime, tenant_id: int, inbox_id: int, body: bytes, reason: str, remote: str | None) -> None:
    """Count a refused request (no body kept); past the inbox's per-minute limit, answer 429 and write nothing."""
    now = datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        recent = (
            session.scalar(
                select(func.count())
                .select_from(InboundRejection)
                .where(InboundRejection.inbox_id == inbox_id, InboundRejection.received_at > now - timedelta(minutes=1))
            )
            or 0
        )
        limited = recent >= rt.settings.inbound_rejections_per_minute
        if not limited:
            session.add(
                InboundRejection(
                    tenant_id=tenant_id,
                    inbox_id=inbox_id,
                    received_at=now,
                    reason=reason[:64],
                    remote=(remote or "")[:64] or None,
                    size=len(body),
                    sha256=hashlib.sha256(body).hexdigest(),
                )
            )
    if limited:
        limit = rt.settings.inbound_rejections_per_minute
        log.warning("inbox %s: more than %d rejected requests in a minute; answering 429", inbox_id, limit)
        raise TooManyRequests("inbound.rejected_rate_limited", retry_after=60)


def claim_pending(
    rt: Runtime,
    older_than: timedelta = timedelta(seconds=30),
    limit: int = 100,
    now: datetime | None = None,
) -> list[int]:
    """Lease up to ``limit`` payloads still ``pending`` that nobody is working on (no lease, or an expired one)."""
    now = now or datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        query = (
            select(RawInbound)
            .where(
                RawInbound.status == "pending",
                RawInbound.received_at <= now - older_than,
                or_(RawInbound.claimed_until.is_(None), RawInbound.claimed_until < now),
            )
            .order_by(RawInbound.id)
            .limit(limit)
        )
        if rt.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        for raw in rows:
            raw.claimed_until = now + inbound_lease(rt)
        return [raw.id for raw in rows]


def reprocess_pending(
    rt: Runtime,
    older_than: timedelta = timedelta(seconds=30),
    limit: int = 100,
    now: datetime | None = None,
) -> int:
    """Process payloads left ``pending`` by a crash (their lease expired). Returns how many were processed."""
    done = 0
    for raw_id in claim_pending(rt, older_than, limit, now):
        try:
            process_raw(rt, raw_id)
            done += 1
        except Exception:  # noqa: BLE001 - recorded on the row by process_raw; go on with the others
            continue
    return done
