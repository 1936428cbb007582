"""Side-panel apps as the REST API calls them (``desk/api/side_panel_apps.py``): each use case
opens, commits or rolls back its own unit of work and returns the apps as plain data (their
column values), so nothing loads after the session closes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.desk.services import side_panel_apps
from raccordo.desk.services.side_panel_apps import DEFAULT_SHARE, PanelApp
from raccordo.platform.secretbox import SecretBox
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain

Sessions = sessionmaker[Session]
__all__ = [
    "DEFAULT_SHARE",
    "conversation_apps",
    "create_app",
    "delete_app",
    "get_app",
    "list_apps",
    "rotate_secret",
    "update_app",
]


def list_apps(sessions: Sessions, actor: Actor) -> list[SimpleNamespace]:
    with unit_of_work(sessions) as session:
        return [plain(app) for app in side_panel_apps.list_apps(session, actor)]


def get_app(sessions: Sessions, actor: Actor, app_id: int) -> SimpleNamespace:
    with unit_of_work(sessions) as session:
        return plain(side_panel_apps.get_app(session, actor, app_id))


def create_app(sessions: Sessions, box: SecretBox, actor: Actor, values: dict[str, Any]) -> tuple[SimpleNamespace, str]:
    """The new app and its signing secret (shown only now)."""
    with unit_of_work(sessions) as session:
        app, secret = side_panel_apps.create_app(session, box, actor, values)
        return plain(app), secret


def update_app(sessions: Sessions, actor: Actor, app_id: int, values: dict[str, Any]) -> SimpleNamespace:
    with unit_of_work(sessions) as session:
        return plain(side_panel_apps.update_app(session, actor, app_id, values))


def rotate_secret(sessions: Sessions, box: SecretBox, actor: Actor, app_id: int) -> str:
    """The new signing secret; the previous one no longer verifies."""
    with unit_of_work(sessions) as session:
        return side_panel_apps.rotate_secret(session, box, actor, app_id)


def delete_app(sessions: Sessions, actor: Actor, app_id: int) -> None:
    with unit_of_work(sessions) as session:
        side_panel_apps.delete_app(session, actor, app_id)


def conversation_apps(
    sessions: Sessions, box: SecretBox, actor: Actor, conversation_id: int, *, page_origin: str
) -> list[PanelApp]:
    """The active apps shown beside the conversation, each with its signed context message."""
    with unit_of_work(sessions) as session:
        return side_panel_apps.conversation_apps(session, box, actor, conversation_id, page_origin=page_origin)
