"""A per-tenant, per-process cache of configuration every message reads (routing rules, SLA
policies, the inbox and its tenant), kept honest by a version per tenant in the database.

Why: each inbound message read the same few configuration rows again (three statements of about
sixteen). They change when an administrator saves something, not per message.

The rule (how stale a cached value may be):

- Any write of a watched row (``watch``: the routing rules, queues, SLA policies, inboxes and
  tenants register their classes in ``bootstrap.subscriptions``) through the ORM, whichever
  service or page makes it, sets a new random version for its tenant in
  ``tenant_config_versions``, in the same transaction (a session hook, as the search index
  follows its rows: no writer can forget it).
- After that commit, the process that made it drops its cached values for the tenant at once
  (for every engine on the same database URL: the app, the worker, the tests' runtimes).
- Another process reads the tenant's version again at most ``max_age`` seconds after it last
  checked it (``RACCORDO_CONFIG_CACHE_SECONDS``, default 1) and reloads when it changed. So a
  change reaches every process within ``max_age`` seconds of its commit (plus the time of a
  transaction already running); with ``0`` every use reads the version (no staleness).
- A session that changed a watched row of a tenant and has not committed yet reads that tenant's
  configuration from the database, never from the cache.

Cached values are detached ORM objects (expunged right after loading, so no rollback expires
them), shared read-only between threads: callers read their attributes and never change them.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from raccordo.platform.store.models import Base, TenantConfigVersion

T = TypeVar("T")

_CHANGED = "raccordo.config_cache.changed"  # session.info: tenant ids whose watched rows this transaction wrote
_WATCHED: set[type] = set()


@dataclass
class _Entry:
    version: int | None
    checked_at: float
    values: dict[Hashable, Any] = field(default_factory=dict)


@dataclass
class _Cache:
    """One database's cached configuration in this process, by tenant."""

    max_age: float = 1.0
    entries: dict[int, _Entry] = field(default_factory=dict)
    owners: dict[Hashable, int] = field(default_factory=dict)  # a lookup key (an inbox identifier) -> its tenant
    lock: threading.Lock = field(default_factory=threading.Lock)


_caches: dict[str, _Cache] = {}
_caches_lock = threading.Lock()


def _cache_of(session: Session) -> _Cache:
    key = str(session.get_bind().engine.url)
    cache = _caches.get(key)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(key, _Cache())
    return cache


def configure(url: str, max_age: float) -> None:
    """How long (seconds) a process trusts a tenant's version before reading it again (``Runtime.build``)."""
    with _caches_lock:
        _caches.setdefault(url, _Cache()).max_age = max(0.0, max_age)


def watch(*classes: type) -> None:
    """Rows of these classes are configuration: writing one changes its tenant's version
    (``tenant_id``, or ``id`` for the tenant itself)."""
    _WATCHED.update(classes)


def _tenant_of(obj: Any) -> int | None:
    tenant_id = getattr(obj, "tenant_id", None)
    if tenant_id is None and type(obj).__tablename__ == "tenants":
        tenant_id = obj.id
    return tenant_id if isinstance(tenant_id, int) else None


def _unflushed_changes(session: Session) -> set[int]:
    tenants: set[int] = set()
    for collection in (session.new, session.dirty, session.deleted):
        for obj in collection:
            if type(obj) in _WATCHED and (tenant_id := _tenant_of(obj)) is not None:
                tenants.add(tenant_id)
    return tenants


def _read_version(session: Session, tenant_id: int) -> int | None:
    return session.scalar(select(TenantConfigVersion.version).where(TenantConfigVersion.tenant_id == tenant_id))


def cached(session: Session, tenant_id: int, key: Hashable, load: Callable[[Session], T]) -> T:
    """The tenant's value for ``key``: from the cache while its version holds, else ``load(session)``
    (whose ORM objects are expunged and kept)."""
    if tenant_id in session.info.get(_CHANGED, ()) or (_WATCHED and tenant_id in _unflushed_changes(session)):
        return load(session)  # this transaction changed the configuration: its own view, not the cache's
    cache = _cache_of(session)
    now = time.monotonic()
    entry = cache.entries.get(tenant_id)
    if entry is None or now - entry.checked_at >= cache.max_age:
        version = _read_version(session, tenant_id)  # read before loading: a later change is seen next time
        if entry is None or entry.version != version:
            entry = _Entry(version, now)
            with cache.lock:
                cache.entries[tenant_id] = entry
        else:
            entry.checked_at = now
    try:
        return entry.values[key]
    except KeyError:
        pass
    value = load(session)
    _expunge(session, value)
    entry.values[key] = value
    return value


def _expunge(session: Session, value: Any) -> None:
    items = value if isinstance(value, (list, tuple)) else (value,)
    for item in items:
        if isinstance(item, (list, tuple)):
            _expunge(session, item)
        elif isinstance(item, Base) and item in session:
            session.expunge(item)


def owner(session: Session, key: Hashable) -> int | None:
    """The tenant a lookup key (an inbox identifier) belonged to when it was last cached."""
    return _cache_of(session).owners.get(key)


def remember_owner(session: Session, key: Hashable, tenant_id: int) -> None:
    _cache_of(session).owners[key] = tenant_id


def invalidate(url: str, tenant_ids: set[int]) -> None:
    cache = _caches.get(url)
    if cache is None:
        return
    with cache.lock:
        for tenant_id in tenant_ids:
            cache.entries.pop(tenant_id, None)


# --- session hooks ---------------------------------------------------------------------------------


def _after_flush(session: Session, _context: Any) -> None:
    # In after_flush, session.new/dirty/deleted still hold what this flush wrote (new rows with their ids).
    changed = _unflushed_changes(session)
    if changed:
        session.info.setdefault(_CHANGED, set()).update(changed)


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released (SQLAlchemy calls the commit hooks then too): the real commit bumps
    session.flush()
    changed = session.info.get(_CHANGED)
    if not changed:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for tenant_id in sorted(changed):  # one order for every writer: no deadlock between two of them
        statement = insert(TenantConfigVersion).values(tenant_id=tenant_id, version=secrets.randbits(62))
        session.execute(
            statement.on_conflict_do_update(index_elements=["tenant_id"], set_={"version": statement.excluded.version})
        )


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    changed = session.info.pop(_CHANGED, None)
    if changed:
        invalidate(str(session.get_bind().engine.url), changed)


def _after_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_CHANGED, None)


def install(factory: sessionmaker[Session]) -> None:
    """Attach the hooks to every session of ``factory`` (``domain_events.install`` does it for every runtime)."""
    if getattr(factory, "_config_cache_installed", False):
        return
    factory._config_cache_installed = True  # type: ignore[attr-defined]
    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "before_commit", _before_commit)
    event.listen(factory, "after_commit", _after_commit)
    event.listen(factory, "after_soft_rollback", _after_rollback)
