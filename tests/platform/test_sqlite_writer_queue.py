"""SQLite writers of one process take turns in arrival order.

SQLite's busy handler sleeps and polls, so a waiting writer could be overtaken again and again:
a customer's first message was stored after their later ones and made two contacts
(bench/ingest.py at concurrency 8). The engine queues its transactions first come, first served.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from raccordo.platform.store.db import FairLock, make_engine

THREADS, ROUNDS = 6, 25


def test_a_waiting_sqlite_writer_is_never_overtaken_by_later_ones(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE turns (id INTEGER PRIMARY KEY, who INTEGER)"))
    committed = 0
    counter = threading.Lock()
    overtaken: list[int] = []
    start = threading.Barrier(THREADS)

    def writer(who: int) -> None:
        nonlocal committed
        start.wait()
        for _ in range(ROUNDS):
            with counter:
                before = committed
            with engine.begin() as connection:
                for _ in range(5):
                    connection.execute(text("INSERT INTO turns (who) VALUES (:who)"), {"who": who})
            with counter:
                committed += 1
                overtaken.append(committed - before - 1)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    engine.dispose()
    assert len(overtaken) == THREADS * ROUNDS
    # First come, first served: at most the other writers already queued commit before this one
    # (twice that, for the instant between reading the count and joining the queue).
    assert max(overtaken) <= 2 * (THREADS - 1), sorted(overtaken)[-10:]


def test_fair_lock_hands_over_in_arrival_order_and_times_out():
    lock = FairLock()
    assert lock.acquire()
    order: list[int] = []
    queued = threading.Semaphore(0)
    threads = []
    for n in range(4):

        def take(n: int = n) -> None:
            queued.release()
            assert lock.acquire(timeout=60)
            order.append(n)
            lock.release()

        thread = threading.Thread(target=take)
        thread.start()
        queued.acquire()
        # Wait until this thread waits in the queue before the next one comes.
        _wait(lambda n=n: len(lock._waiters) == n + 1)
        threads.append(thread)
    assert lock.acquire(timeout=0.05) is False, "a timed-out waiter leaves the queue"
    assert len(lock._waiters) == 4
    lock.release()
    for thread in threads:
        thread.join(timeout=30)
    assert order == [0, 1, 2, 3]
    assert lock.acquire(timeout=0) is True


def _wait(condition, timeout: float = 30.0) -> None:
    event = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if condition():
            return
        event.wait(0.005)
    pytest.fail("condition not met in time")
