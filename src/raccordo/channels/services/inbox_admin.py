"""The inbox use cases as the admin pages and the REST API call them: each opens, commits or rolls
back its own unit of work and returns plain data (the inbox's columns, no lazy loads after the
session closes); the list is one query."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.channels.models import Inbox
from raccordo.channels.services import inboxes
from raccordo.platform.secretbox import SecretBox
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain
from raccordo.record.services.records import get_owned

Sessions = sessionmaker[Session]


def list_inboxes(sessions: Sessions, actor: Actor) -> list[Any]:
    with unit_of_work(sessions) as session:
        return [plain(i) for i in inboxes.list_inboxes(session, actor)]


def get_inbox(sessions: Sessions, actor: Actor, inbox_id: int) -> Any:
    """The tenant's inbox (NotFound when it is gone or another tenant's)."""
    actor.require(Permission.READ)
    with unit_of_work(sessions) as session:
        return plain(get_owned(session, Inbox, actor.tenant_id, inbox_id))


def inboxes_view(sessions: Sessions, actor: Actor, inbox_id: int | None) -> tuple[list[Any], Any]:
    """The inboxes and, for an id, that inbox: the admin page's data, in one unit of work."""
    with unit_of_work(sessions) as session:
        rows = [plain(i) for i in inboxes.list_inboxes(session, actor)]
        return rows, plain(get_owned(session, Inbox, actor.tenant_id, inbox_id)) if inbox_id is not None else None


def create_inbox(sessions: Sessions, box: SecretBox, actor: Actor, **values: Any) -> tuple[Any, dict[str, str]]:
    """The new inbox and all its secrets (generated ones included), returned this once."""
    with unit_of_work(sessions) as session:
        inbox, secrets = inboxes.create_inbox(session, box, actor, **values)
        session.flush()
        return plain(inbox), secrets


def update_inbox(sessions: Sessions, box: SecretBox, actor: Actor, inbox_id: int, **values: Any) -> Any:
    with unit_of_work(sessions) as session:
        inbox = inboxes.update_inbox(session, box, actor, inbox_id, **values)
        session.flush()
        return plain(inbox)


def reveal_secrets(sessions: Sessions, box: SecretBox, actor: Actor, inbox_id: int) -> dict[str, str]:
    with unit_of_work(sessions) as session:
        return inboxes.reveal_secrets(session, box, actor, inbox_id)


def check_config(sessions: Sessions, box: SecretBox, actor: Actor, **values: Any) -> tuple[Any, Any]:
    """The channel and the inbox configuration to check (``inboxes.check_config``)."""
    with unit_of_work(sessions) as session:
        return inboxes.check_config(session, box, actor, **values)
