"""Search entries of ingested messages, written after their commit: the per-factory backlog thread,
the claim that makes writing them idempotent, and the worker's sweep for what a crash left behind.

``desk.search_index`` explains why; ``Message.search_pending`` is the durable marker (true until
the entry is written, cleared by the same statement that claims the row, in the transaction that
writes the entry).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Engine, Table, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from raccordo.desk.domain.search import index_body
from raccordo.desk.models import SearchEntry
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Message

log = logging.getLogger(__name__)

_MESSAGES = cast(Table, Message.__table__)
_PENDING_ROW = text("messages.search_pending")  # the partial index's own condition, so it is used
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")  # a lost commit leaves the flag set: swept
WAIT_SECONDS = 5.0  # how long a committing thread waits for its messages' entries (the sweep does the rest)
SWEEP_AFTER = timedelta(seconds=30)


def settle_in_transaction(session: Session, message_ids: list[int]) -> None:
    """These messages' entries are being written in this transaction (their text changed in the one
    that stored them): nothing is left for the backlog."""
    session.execute(update(_MESSAGES).where(_MESSAGES.c.id.in_(message_ids), _PENDING_ROW).values(search_pending=None))


def index_pending(session: Session | Connection, message_ids: Iterable[int]) -> int:
    """Write the entries of these messages that are still pending; returns how many were written.
    Safe to run twice or concurrently: each row is claimed (its flag cleared) by one transaction."""
    ids = sorted(set(message_ids))
    written = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        claimed = session.execute(
            update(_MESSAGES)
            .where(_MESSAGES.c.id.in_(chunk), _PENDING_ROW)
            .values(search_pending=None)
            .returning(_MESSAGES.c.id, _MESSAGES.c.tenant_id, _MESSAGES.c.conversation_id, _MESSAGES.c.text)
        ).all()
        if not claimed:
            continue
        rows = [
            {"tenant_id": tenant, "kind": "message", "conversation_id": conversation, "message_id": mid, "body": body}
            for mid, tenant, conversation, message_text in claimed
            if (body := index_body([message_text]))
        ]
        if rows:
            session.execute(insert(SearchEntry), rows)
        written += len(rows)
    return written


def sweep(sessions: sessionmaker[Session], older_than: timedelta = SWEEP_AFTER, limit: int = 500) -> int:
    """The worker's step: entries still pending ``older_than`` after their message (a crash, a
    failed backlog transaction) are written now."""
    with unit_of_work(sessions) as session:
        ids = session.scalars(
            select(Message.id)
            .where(_PENDING_ROW, Message.created_at <= datetime.now(UTC) - older_than)
            .order_by(Message.id)
            .limit(limit)
        ).all()
        return index_pending(session, ids) if ids else 0


class Backlog:
    """One factory's queue of message ids and the daemon thread that indexes what is queued, in one
    transaction per batch. Committing threads wait (bounded) for their own ids."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.engine: Engine = sessions.kw["bind"]
        self.ready = threading.Condition()
        self.queued: list[int] = []
        self.added = 0  # ids ever queued
        self.completed = 0  # ids ever handled (written, or left to the sweep after a failure)
        self.thread: threading.Thread | None = None

    def index_and_wait(self, message_ids: Iterable[int], timeout: float = WAIT_SECONDS) -> bool:
        ids = list(message_ids)
        with self.ready:
            self.queued.extend(ids)
            self.added += len(ids)
            ticket = self.added
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="search-backlog", daemon=True)
                self.thread.start()
            self.ready.notify_all()
            return self.ready.wait_for(lambda: self.completed >= ticket, timeout)

    def _run(self) -> None:
        while True:
            with self.ready:
                self.ready.wait_for(lambda: bool(self.queued))
                batch, self.queued = self.queued, []
                upto = self.added
            try:
                # A plain connection, not a session: none of the session hooks has anything to do here.
                with self.engine.begin() as connection:
                    if connection.dialect.name == "postgresql":
                        connection.execute(_ASYNC_COMMIT)
                    index_pending(connection, batch)
            except Exception:  # noqa: BLE001 - the flags stay set: the worker's sweep writes them later
                log.warning("writing %d search entries failed; left to the sweep", len(batch), exc_info=True)
            with self.ready:
                self.completed = upto
                self.ready.notify_all()
