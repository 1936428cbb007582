"""The desk's content use cases as the admin pages and the REST API call them (answer templates,
wrap-up codes, side-panel apps): each opens, commits or rolls back its own unit of work, and the
read models return plain data in a fixed number of queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.channels.services import inboxes
from raccordo.desk.domain.side_panel import app_origin
from raccordo.desk.services import side_panel_apps, templates, wrapup
from raccordo.platform.secretbox import SecretBox
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain
from raccordo.routing.models import RoutingQueue
from raccordo.routing.services import admin as routing_admin

Sessions = sessionmaker[Session]
Data = dict[str, Any]


# --- answer templates ------------------------------------------------------------------------------


def templates_view(sessions: Sessions, actor: Actor, template_id: int | None = None) -> Data:
    with unit_of_work(sessions) as session:
        data: Data = {"templates": [plain(t) for t in templates.list_templates(session, actor)]}
        if template_id is not None:
            template = templates.get_template(session, actor, template_id)
            data["row"] = plain(template)
            data["stored"] = {
                "name": template.name,
                "shortcut": template.shortcut,
                "body": template.body,
                "bodies": dict(template.bodies or {}),
                "active": template.active,
            }
        return data


def save_template(sessions: Sessions, actor: Actor, template_id: int | None, values: Data) -> int:
    with unit_of_work(sessions) as session:
        if template_id is None:
            return templates.create_template(session, actor, values).id
        return templates.update_template(session, actor, template_id, values).id


def delete_template(sessions: Sessions, actor: Actor, template_id: int) -> None:
    with unit_of_work(sessions) as session:
        templates.delete_template(session, actor, template_id)


def list_templates(sessions: Sessions, actor: Actor) -> list[Any]:
    with unit_of_work(sessions) as session:
        return [plain(t) for t in templates.list_templates(session, actor)]


def get_template(sessions: Sessions, actor: Actor, template_id: int) -> Any:
    with unit_of_work(sessions) as session:
        return plain(templates.get_template(session, actor, template_id))


def create_template(sessions: Sessions, actor: Actor, values: Data) -> Any:
    """The new template, as stored."""
    with unit_of_work(sessions) as session:
        return plain(templates.create_template(session, actor, values))


def update_template(sessions: Sessions, actor: Actor, template_id: int, values: Data) -> Any:
    """Change what ``values`` names; the template as stored."""
    with unit_of_work(sessions) as session:
        return plain(templates.update_template(session, actor, template_id, values))


def rendered_templates(
    sessions: Sessions, actor: Actor, conversation_id: int, language: str | None, inbox_id: int | None
) -> list[Any]:
    """Every active template rendered for the conversation (``templates.render_for_conversation``)."""
    with unit_of_work(sessions) as session:
        return templates.render_for_conversation(session, actor, conversation_id, language, inbox_id)


# --- wrap-up codes ---------------------------------------------------------------------------------


def codes_view(sessions: Sessions, actor: Actor, code_id: int | None = None) -> Data:
    """The codes, and the names of the queues that ask for one when a conversation is resolved."""
    with unit_of_work(sessions) as session:
        requiring = session.scalars(
            select(RoutingQueue.name)
            .where(RoutingQueue.tenant_id == actor.tenant_id, RoutingQueue.requires_wrap_up.is_(True))
            .order_by(RoutingQueue.name)
        )
        data: Data = {"codes": [plain(c) for c in wrapup.list_codes(session, actor)], "requiring": list(requiring)}
        if code_id is not None:
            code = wrapup.get_code(session, actor, code_id)
            data["row"] = plain(code)
            data["stored"] = {"code": code.code, "label": code.label, "active": code.active}
        return data


def save_code(sessions: Sessions, actor: Actor, code_id: int | None, values: Data) -> int:
    with unit_of_work(sessions) as session:
        return (
            wrapup.create_code(session, actor, values)
            if code_id is None
            else wrapup.update_code(session, actor, code_id, values)
        ).id


def list_codes(sessions: Sessions, actor: Actor) -> list[Any]:
    with unit_of_work(sessions) as session:
        return [plain(c) for c in wrapup.list_codes(session, actor)]


def create_code(sessions: Sessions, actor: Actor, values: Data) -> Any:
    with unit_of_work(sessions) as session:
        return plain(wrapup.create_code(session, actor, values))


def update_code(sessions: Sessions, actor: Actor, code_id: int, values: Data) -> Any:
    with unit_of_work(sessions) as session:
        return plain(wrapup.update_code(session, actor, code_id, values))


def delete_code(sessions: Sessions, actor: Actor, code_id: int) -> None:
    with unit_of_work(sessions) as session:
        wrapup.delete_code(session, actor, code_id)


# --- side-panel apps -------------------------------------------------------------------------------


def apps_view(sessions: Sessions, actor: Actor, app_id: int | None = None) -> Data:
    with unit_of_work(sessions) as session:
        apps = [plain(a) for a in side_panel_apps.list_apps(session, actor)]
        data: Data = {
            "apps": apps,
            "origins": {a.id: app_origin(a.url) for a in apps},
            "all_inboxes": [plain(i) for i in inboxes.list_inboxes(session, actor)],
            "queues": [plain(q) for q in routing_admin.list_queues(session, actor)],
        }
        if app_id is not None:
            app = side_panel_apps.get_app(session, actor, app_id)
            data["row"] = plain(app)
            data["stored"] = {
                "name": app.name,
                "url": app.url,
                "active": app.active,
                "position": app.position,
                "share": list(app.share or []),
                "inbox_ids": list(app.inbox_ids or []),
                "queue_ids": list(app.queue_ids or []),
            }
        return data


def list_apps(sessions: Sessions, actor: Actor) -> list[Any]:
    with unit_of_work(sessions) as session:
        return [plain(a) for a in side_panel_apps.list_apps(session, actor)]


def get_app(sessions: Sessions, actor: Actor, app_id: int) -> Any:
    with unit_of_work(sessions) as session:
        return plain(side_panel_apps.get_app(session, actor, app_id))


def create_app(sessions: Sessions, box: SecretBox, actor: Actor, values: Data) -> tuple[Any, str]:
    """The new app, as stored, and its signing secret, returned this once."""
    with unit_of_work(sessions) as session:
        app, secret = side_panel_apps.create_app(session, box, actor, values)
        return plain(app), secret


def update_app(sessions: Sessions, actor: Actor, app_id: int, values: Data) -> Any:
    """Change what ``values`` names; the app as stored."""
    with unit_of_work(sessions) as session:
        return plain(side_panel_apps.update_app(session, actor, app_id, values))


def rotate_app_secret(sessions: Sessions, box: SecretBox, actor: Actor, app_id: int) -> str:
    with unit_of_work(sessions) as session:
        return side_panel_apps.rotate_secret(session, box, actor, app_id)


def delete_app(sessions: Sessions, actor: Actor, app_id: int) -> None:
    with unit_of_work(sessions) as session:
        side_panel_apps.delete_app(session, actor, app_id)


def conversation_apps(
    sessions: Sessions, box: SecretBox, actor: Actor, conversation_id: int, *, page_origin: str
) -> list[side_panel_apps.PanelApp]:
    """The active apps shown beside the conversation, each with its signed context message."""
    with unit_of_work(sessions) as session:
        return side_panel_apps.conversation_apps(session, box, actor, conversation_id, page_origin=page_origin)
