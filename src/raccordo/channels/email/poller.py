"""Polling the IMAP mailboxes of email inboxes: fetch, store raw, process, then mark seen.

Messages are fetched in batches without setting ``\\Seen`` (``BODY.PEEK``); a batch is stored
raw in one committed transaction (one inbox look-up and one durable commit for the batch),
then each message is processed alone (parsed once and ingested in its own transaction; a
failure stays on its raw row with its error), and only then is the batch marked ``\\Seen``.
A crash before the raw commit fetches the batch again next time; a crash after it leaves
the rows ``pending`` for the worker's sweep; ingest is idempotent by Message-ID either way.
A failing message never blocks the others.

``MailService`` runs in the worker (``serve`` with the embedded worker, and ``raccordo
worker``): a thread with its own asyncio loop, one task per inbox, so many mailboxes are
polled concurrently, each waiting in IMAP IDLE when the server offers it. With several
worker processes, an inbox is polled by one at a time: a row in ``mailbox_leases`` is
taken with a conditional UPDATE (free, expired, or already ours) and renewed while the
task runs; a crashed worker's inboxes are taken over when its lease expires. The same
thread runs the SMTP forwarding receiver when ``RACCORDO_SMTP_RECEIVER_PORT`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from raccordo.channels.base import InboundRequest, InboxConfig
from raccordo.channels.email import KIND
from raccordo.channels.email.mailbox import MAX_ATTACHMENT_HEADER, ImapMailbox, MailboxError, imap_account
from raccordo.channels.models import Inbox, MailboxLease
from raccordo.channels.services.inbound import inbox_config, store_raw_many
from raccordo.channels.services.inbound_batch import process_raw_many
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work

log = logging.getLogger(__name__)
# Bytes of mail fetched per round trip (with at most ``email_fetch_batch`` messages): the IMAP client
# holds several times a response's size in memory, so a batch of large messages is split.
FETCH_BYTES = 8 * 1024 * 1024
# An unreachable or refusing server: wait 10 s, 20 s, 40 s ... up to 10 minutes between attempts,
# and warn when the error starts or changes, then at most once an hour while it lasts.
RETRY_FIRST_SECONDS = 10.0
RETRY_MAX_SECONDS = 600.0
WARN_EVERY = 3600.0


def retry_delay(failures: int) -> float:
    return min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2.0 ** min(max(failures, 1) - 1, 16))


@dataclass(frozen=True)
class PolledInbox:
    id: int
    tenant_id: int
    identifier: str


def pollable_inboxes(rt: Runtime) -> list[PolledInbox]:
    with unit_of_work(rt.sessions) as session:
        rows = session.scalars(
            select(Inbox).where(Inbox.active.is_(True), Inbox.channel == KIND).order_by(Inbox.id)
        ).all()
        return [PolledInbox(r.id, r.tenant_id, r.identifier) for r in rows if r.settings.get("imap_host")]


# --- leases ---------------------------------------------------------------------------------------


def acquire_lease(rt: Runtime, inbox: PolledInbox, owner: str, now: datetime | None = None) -> bool:
    """Take (or renew) the right to poll this inbox; False while another live worker holds it."""
    now = now or datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        if session.get(MailboxLease, inbox.id) is None:
            _insert_if_absent(session, {"inbox_id": inbox.id, "tenant_id": inbox.tenant_id, "fetched": 0})
        result = session.execute(
            update(MailboxLease)
            .where(
                MailboxLease.inbox_id == inbox.id,
                or_(MailboxLease.owner.is_(None), MailboxLease.owner == owner, MailboxLease.leased_until < now),
            )
            .values(owner=owner, leased_until=now + timedelta(seconds=rt.settings.email_lease_seconds))
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def _insert_if_absent(session: Session, values: dict[str, Any]) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    session.execute(
        insert(MailboxLease).values(**values).on_conflict_do_nothing(index_elements=[MailboxLease.inbox_id])
    )


def release_lease(rt: Runtime, inbox_id: int, owner: str) -> None:
    with unit_of_work(rt.sessions) as session:
        session.execute(
            update(MailboxLease)
            .where(MailboxLease.inbox_id == inbox_id, MailboxLease.owner == owner)
            .values(owner=None, leased_until=None)
        )


def record_poll(rt: Runtime, inbox_id: int, *, error: str | None, fetched: int = 0) -> None:
    now = datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        lease = session.get(MailboxLease, inbox_id)
        if lease is None:
            return
        lease.last_poll_at, lease.fetched = now, lease.fetched + fetched
        if error is None:
            lease.last_ok_at, lease.last_error = now, None
        else:
            lease.last_error = error[:4000]


# --- one pass over a mailbox ----------------------------------------------------------------------


@dataclass
class PollResult:
    fetched: int = 0
    processed: int = 0
    failed: int = 0
    raw_ids: list[int] = field(default_factory=list)


async def poll_open_mailbox(rt: Runtime, box: ImapMailbox, inbox: PolledInbox, batch: int | None = None) -> PollResult:
    """Fetch every unseen message of an open mailbox: store raw, process, then mark seen."""
    result = PollResult()
    batch = batch or rt.settings.email_fetch_batch
    uids = await box.unseen_uids()
    for start in range(0, len(uids), batch):
        sizes = await box.sizes(uids[start : start + batch])
        for chunk in _chunks_by_size(uids[start : start + batch], sizes, FETCH_BYTES):
            await _fetch_store_process(rt, box, inbox, chunk, result)
    return result


def _chunks_by_size(uids: list[int], sizes: dict[int, int], limit: int) -> list[list[int]]:
    """Consecutive UIDs in groups of at most ``limit`` bytes (a larger message is fetched alone)."""
    chunks: list[list[int]] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if chunks and chunks[-1] and total + size <= limit:
            chunks[-1].append(uid)
            total += size
        else:
            chunks.append([uid])
            total = size
    return chunks


async def _fetch_store_process(
    rt: Runtime, box: ImapMailbox, inbox: PolledInbox, chunk: list[int], result: PollResult
) -> None:
    messages = await box.fetch_many(chunk)
    stored: list[int] = []
    try:
        await asyncio.to_thread(_store_and_process, rt, inbox, box.folder, messages, result, stored)
    finally:
        # Even when processing stopped half-way, the stored messages are done (their raw rows are committed).
        if stored:
            await box.mark_seen_many(stored)


def _store_and_process(
    rt: Runtime, inbox: PolledInbox, folder: str, messages: list[tuple[int, bytes]], result: PollResult, done: list[int]
) -> None:
    """Store the batch raw (one committed transaction), then process it (one more); ``done`` gets
    the UIDs that may be marked seen."""
    if not messages:
        return
    common = {
        "x-raccordo-source": "imap",
        "x-imap-folder": folder,
        MAX_ATTACHMENT_HEADER: str(rt.settings.max_attachment_bytes),
    }
    requests = [
        InboundRequest.polled(f"imap:{folder}/{uid}", body, {**common, "x-imap-uid": str(uid)})
        for uid, body in messages
    ]
    stored = store_raw_many(rt, inbox.identifier, requests)
    # Committed: from here each message is safe to mark seen whatever happens to its processing (a
    # failure stays on its raw row; a crash leaves the row pending for the worker's sweep).
    done.extend(uid for uid, _ in messages)
    result.fetched += len(stored)
    result.raw_ids.extend(payload.raw_id for payload in stored)
    # One transaction for the batch, one savepoint per message (a failure is recorded on its raw row).
    for outcome in process_raw_many(rt, stored):
        if isinstance(outcome, Exception):
            result.failed += 1
        else:
            result.processed += 1


def poll_once(rt: Runtime, inbox_id: int) -> PollResult:
    """Open the inbox's mailbox, fetch everything unseen, close. For ``raccordo``'s tools and tests."""
    with unit_of_work(rt.sessions) as session:
        row = session.get_one(Inbox, inbox_id)
        config = inbox_config(rt, row)
        inbox = PolledInbox(row.id, row.tenant_id, row.identifier)
    account = imap_account(config, rt.settings.email_timeout_seconds)
    if account is None:
        raise ValueError(f"inbox {inbox_id} has no IMAP server")

    async def run() -> PollResult:
        box = ImapMailbox(*account)
        try:
            await box.open()
            return await poll_open_mailbox(rt, box, inbox)
        finally:
            await box.close()

    return asyncio.run(run())


# --- the service in the worker --------------------------------------------------------------------


class MailService:
    """A thread with an asyncio loop: one polling task per leased inbox, and the SMTP receiver if configured."""

    def __init__(self, rt: Runtime, *, owner: str | None = None) -> None:
        self.rt = rt
        self.owner = owner or f"{uuid.uuid4().hex[:12]}"
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.receiver_port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Created here (an Event binds to the loop that first waits on it): every task can use it unchecked.
        self._stopping = asyncio.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raccordo-mail", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("mail service stopped by an error")
        finally:
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        server = None
        settings = self.rt.settings
        try:
            if settings.smtp_receiver_port:
                from raccordo.channels.email.receiver import start_receiver

                server = await start_receiver(self.rt, settings.smtp_receiver_host, settings.smtp_receiver_port)
                self.receiver_port = server.sockets[0].getsockname()[1]
        finally:
            self._started.set()
        try:
            while not self._stopping.is_set():
                if settings.email_polling:
                    try:
                        await self._scan()
                    except Exception:
                        log.exception("mail service: scanning inboxes failed")
                await _first(self._stopping.wait(), timeout=settings.email_scan_seconds)
        finally:
            for task in self.tasks.values():
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            if server is not None:
                server.close()
                await server.wait_closed()

    async def _scan(self) -> None:
        for task_inbox, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[task_inbox]
        for inbox in await asyncio.to_thread(pollable_inboxes, self.rt):
            if inbox.id in self.tasks:
                continue
            if await asyncio.to_thread(acquire_lease, self.rt, inbox, self.owner):
                self.tasks[inbox.id] = asyncio.create_task(self._poll_inbox(inbox), name=f"mailbox-{inbox.id}")

    async def _poll_inbox(self, inbox: PolledInbox) -> None:
        """Poll one mailbox while this worker holds its lease; reconnect with backoff on errors."""
        settings = self.rt.settings
        failures = 0
        last_reason, warned_at = "", 0.0
        try:
            while not self._stopping.is_set():
                config = await asyncio.to_thread(_config, self.rt, inbox.id)
                account = imap_account(config, settings.email_timeout_seconds) if config is not None else None
                if account is None:
                    return  # deactivated or no IMAP any more
                box = ImapMailbox(*account)
                try:
                    await box.open()
                    while not self._stopping.is_set():
                        if not await asyncio.to_thread(acquire_lease, self.rt, inbox, self.owner):
                            return  # another worker took it (our lease expired)
                        # Renewed while the poll works too: a long poll (a slow message) keeps its mailbox.
                        keeper = asyncio.create_task(self._keep_lease(inbox), name=f"mailbox-lease-{inbox.id}")
                        try:
                            result = await poll_open_mailbox(self.rt, box, inbox)
                        finally:
                            keeper.cancel()
                            await asyncio.gather(keeper, return_exceptions=True)
                        await asyncio.to_thread(record_poll, self.rt, inbox.id, error=None, fetched=result.fetched)
                        failures, last_reason = 0, ""
                        if await asyncio.to_thread(_config, self.rt, inbox.id) is None:
                            return
                        wait = settings.email_idle_seconds if box.supports_idle else settings.email_poll_seconds
                        # Renew the lease well before it expires, even while idling.
                        wait = max(0.05, min(wait, settings.email_lease_seconds / 3))
                        await _first(
                            self._stopping.wait(),
                            box.wait_for_news(wait),
                            timeout=wait + settings.email_timeout_seconds,
                        )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a network or server error: record it, back off, reconnect
                    failures += 1
                    reason = (
                        f"{exc.step}: {exc.params.get('reason', '')}"
                        if isinstance(exc, MailboxError)
                        else f"{type(exc).__name__}: {exc}"
                    )
                    # One warning when the error starts or changes, and at most one per WARN_EVERY while it lasts;
                    # every attempt is on the lease row (last_error) and in the debug log.
                    now = asyncio.get_running_loop().time()
                    if reason != last_reason or now - warned_at >= WARN_EVERY:
                        log.warning(
                            "mailbox of inbox %s: %s (attempt %s; next in %.0f s)",
                            inbox.id,
                            reason,
                            failures,
                            retry_delay(failures),
                        )
                        last_reason, warned_at = reason, now
                    else:
                        log.debug("mailbox of inbox %s: %s (attempt %s)", inbox.id, reason, failures)
                    await asyncio.to_thread(record_poll, self.rt, inbox.id, error=reason)
                    delay = retry_delay(failures)
                    if not await asyncio.to_thread(acquire_lease, self.rt, inbox, self.owner):
                        return
                    await _first(self._stopping.wait(), timeout=delay)
                finally:
                    await box.close()
        finally:
            # Any failure is harmless: the lease expires by itself.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(release_lease, self.rt, inbox.id, self.owner)

    async def _keep_lease(self, inbox: PolledInbox) -> None:
        """Renew the lease every third of its length until cancelled (or until another worker took it)."""
        period = max(0.05, self.rt.settings.email_lease_seconds / 3)
        while not self._stopping.is_set():
            await _first(self._stopping.wait(), timeout=period)
            if self._stopping.is_set() or not await asyncio.to_thread(acquire_lease, self.rt, inbox, self.owner):
                return


def _config(rt: Runtime, inbox_id: int) -> InboxConfig | None:
    with unit_of_work(rt.sessions) as session:
        row = session.get(Inbox, inbox_id)
        if row is None or not row.active:
            return None
        return inbox_config(rt, row)


async def _first(*awaitables: Awaitable[object], timeout: float) -> None:
    """Wait until the first of ``awaitables`` finishes (or ``timeout``); cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
