"""An in-process dispatcher of domain events: services say what happened, subscribers react.

A service records a fact (``record(session, MessageReceived(...))``) instead of calling the
capabilities that care about it. Events are frozen dataclasses defined by the package that
owns the fact (``record.domain.events``, ``routing.domain.events``); subscribers are wired in
one place, ``bootstrap.subscriptions``, so a new capability (analytics, surveys, a bot) plugs
in there without an edit to the service that records the event.

Two phases:

- ``in_transaction``: called by ``record`` itself, in the caller's transaction, in the order
  the subscriptions were made. What the handler writes commits or rolls back with the work
  that caused it (routing, SLA clocks). An exception propagates to the service: the whole
  unit of work fails, as a direct call would.
- ``after_commit``: queued on the session and called once the transaction has committed, with
  no session (open a new unit of work if needed). A rollback drops them, and so does the
  rollback of a savepoint (``begin_nested``) for the events recorded inside it. An exception
  in one is logged and does not stop the others: the work is already committed.

This is separate from ``platform.events`` (the persisted event log the realtime hub reads),
which stays as it is: handlers that want a client to see something still call ``emit``.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

Phase = Literal["in_transaction", "after_commit"]
IN_TRANSACTION: Phase = "in_transaction"
AFTER_COMMIT: Phase = "after_commit"

E = TypeVar("E")
InTransactionHandler = Callable[[Session, Any], None]
AfterCommitHandler = Callable[[Any], None]

_QUEUED = "raccordo.domain_events.after_commit"
_MARKS = "raccordo.domain_events.marks"  # savepoint -> how many after-commit calls were queued when it began


@dataclass
class Dispatcher:
    """Subscriptions by event type. One per process (``dispatcher``); tests may build their own."""

    in_transaction: dict[type, list[InTransactionHandler]] = field(default_factory=dict)
    after_commit: dict[type, list[AfterCommitHandler]] = field(default_factory=dict)

    def subscribe(
        self, event_type: type[E], handler: Callable[..., None], phase: Phase = IN_TRANSACTION
    ) -> Callable[[], None]:
        """Call ``handler`` for every recorded ``event_type``; returns a function that unsubscribes it.

        Subscribing the same handler twice to the same type and phase is a no-op, so the
        bootstrap wiring can run once per app, worker and test fixture in one process."""
        if phase not in (IN_TRANSACTION, AFTER_COMMIT):
            raise ValueError(f"unknown phase {phase!r}")
        table: dict[type, list[Any]] = self.in_transaction if phase == IN_TRANSACTION else self.after_commit
        handlers = table.setdefault(event_type, [])
        if handler not in handlers:
            handlers.append(handler)

        def unsubscribe() -> None:
            if handler in table.get(event_type, ()):
                table[event_type].remove(handler)

        return unsubscribe

    def record(self, session: Session, event: object) -> None:
        """Dispatch ``event`` to its in-transaction subscribers now and queue it for the after-commit ones."""
        event_type = type(event)
        for handler in tuple(self.in_transaction.get(event_type, ())):
            handler(session, event)
        later = self.after_commit.get(event_type)
        if later:
            session.info.setdefault(_QUEUED, []).extend((handler, event) for handler in tuple(later))


dispatcher = Dispatcher()


def subscribe(event_type: type[E], handler: Callable[..., None], phase: Phase = IN_TRANSACTION) -> Callable[[], None]:
    return dispatcher.subscribe(event_type, handler, phase)


def record(session: Session, event: object) -> None:
    dispatcher.record(session, event)


# --- session hooks --------------------------------------------------------------------------------

_installed: weakref.WeakSet[sessionmaker[Session]] = weakref.WeakSet()
_session_extensions: list[Callable[[sessionmaker[Session]], None]] = []


def install(sessions: sessionmaker[Session]) -> None:
    """Deliver after-commit events of every session the factory makes (``Runtime.build`` calls this),
    and apply the session extensions registered so far (and later ones, when they register)."""
    if sessions in _installed:
        return
    _installed.add(sessions)

    @sa_event.listens_for(sessions, "after_commit")
    def _deliver(session: Session) -> None:
        queued = session.info.pop(_QUEUED, None)
        for handler, event in queued or ():
            try:
                handler(event)
            except Exception:  # committed work stands; one subscriber's failure must not hide the others
                log.exception(
                    "after-commit subscriber %s failed on %s",
                    getattr(handler, "__qualname__", handler),
                    type(event).__name__,
                )

    @sa_event.listens_for(sessions, "after_transaction_create")
    def _mark(session: Session, transaction: Any) -> None:
        if transaction.nested:
            session.info.setdefault(_MARKS, {})[transaction] = len(session.info.get(_QUEUED, ()))

    @sa_event.listens_for(sessions, "after_transaction_end")
    def _unmark(session: Session, transaction: Any) -> None:
        if transaction.parent is None:
            session.info.pop(_MARKS, None)

    @sa_event.listens_for(sessions, "after_soft_rollback")
    def _drop(session: Session, previous: Any) -> None:
        if previous.nested:
            mark = session.info.get(_MARKS, {}).pop(previous, None)
            if mark is not None and _QUEUED in session.info:
                del session.info[_QUEUED][mark:]
            return
        if previous.parent is None:  # the whole transaction rolled back: nothing of it happened
            session.info.pop(_QUEUED, None)

    for extend in tuple(_session_extensions):
        extend(sessions)


def extend_sessions(extension: Callable[[sessionmaker[Session]], None]) -> None:
    """Run ``extension(factory)`` on every installed session factory, now and when one is built.

    For subscribers that follow the ORM's changes rather than recorded events (the search index
    follows every write of a message, subject or contact, whichever service made it): the
    composition root registers them, so ``platform`` never imports the capability."""
    if extension in _session_extensions:
        return
    _session_extensions.append(extension)
    for sessions in tuple(_installed):
        extension(sessions)
