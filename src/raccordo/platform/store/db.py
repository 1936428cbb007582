"""Engine and session factory. SQLite runs in WAL mode with foreign keys on.

SQLite has one writer at a time, and its busy handler is not a queue: a waiting writer
sleeps and polls, so later writers can overtake it again and again (a request waited
over a second while forty later ones went through, and a customer's first message was
stored after their later ones, making two contacts). Within a process, SQLite
transactions therefore queue first come, first served on a ``FairLock`` before
``BEGIN IMMEDIATE``; other processes still queue on ``busy_timeout``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_SECONDS = 30


class FairLock:
    """A lock handed to its waiters in arrival order (``threading.Lock`` promises no order)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float = -1) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        if waiter.acquire(timeout=timeout):
            return True  # handed over by release(): the lock stays held, now by us
        with self._mutex:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return False
        return True  # handed over between the timeout and the removal

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._held = False


def _raw(connection):
    """The driver's connection behind a pool wrapper (or itself)."""
    return getattr(connection, "dbapi_connection", None) or connection


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Created owner-only (0600); SQLite gives its -wal and -shm files the same mode. Only a
            # missing file is created: closing any descriptor of an open SQLite file drops the
            # process's POSIX locks on it, which SQLite reports later as "disk I/O error".
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS})
        writers = FairLock()
        holders: set[int] = set()  # the sqlite3 connections whose transaction holds ``writers``

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # pysqlite's own transaction handling is bypassed so BEGIN IMMEDIATE takes the
            # write lock up front: concurrent writers queue on busy_timeout instead of failing.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            if not writers.acquire(timeout=SQLITE_BUSY_SECONDS):
                raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
            holders.add(id(_raw(conn.connection)))
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                _release(conn.connection)
                raise

        def _release(connection):
            key = id(_raw(connection))
            if key in holders:
                holders.discard(key)
                writers.release()

        # Released once COMMIT or ROLLBACK has run (also the pool's rollback when a connection goes
        # back), so the next writer's BEGIN IMMEDIATE finds the database free and never polls.
        dialect = engine.dialect
        do_commit, do_rollback = dialect.do_commit, dialect.do_rollback

        def _commit(dbapi_conn):
            try:
                do_commit(dbapi_conn)
            finally:
                _release(dbapi_conn)

        def _rollback(dbapi_conn):
            try:
                do_rollback(dbapi_conn)
            finally:
                _release(dbapi_conn)

        dialect.do_commit, dialect.do_rollback = _commit, _rollback  # type: ignore[method-assign]
        event.listen(engine.pool, "invalidate", lambda dbapi_conn, record, *args: _release(dbapi_conn))
        return engine
    # No pre-ping: it cost a ``SELECT 1`` round trip on every checkout (two or more per inbound
    # message). A connection the server dropped fails its first statement with a disconnect
    # error instead; SQLAlchemy then invalidates that connection and every older one in the pool
    # (so one request fails per server restart, not one per pooled connection), and the inbound
    # path retries its transaction on OperationalError. Connections are recycled hourly so idle
    # ones are not cut by a proxy or a server timeout first.
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=False, pool_recycle=3600)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Session hooks of capabilities (the search index) are added by the composition root through
    # ``platform.domain_events.extend_sessions``: the store imports no capability.
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
