"""Guided scripts as the desk's pages use them: the designer's read model and save, and the
runner beside a conversation. Each use case opens, commits or rolls back its own unit of work; the
read models are built inside it and hold nothing that loads later (sessions keep loaded values
after commit, and everything shown is read here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.desk.models import ScriptRun
from raccordo.desk.services import scripts
from raccordo.platform.errors import NotFound
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain
from raccordo.record.models import Conversation
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import get_owned
from raccordo.routing.services import admin as routing_admin

Sessions = sessionmaker[Session]
Data = dict[str, Any]


# --- the designer ----------------------------------------------------------------------------------


def designer_view(sessions: Sessions, actor: Actor, script_id: int | None = None) -> Data:
    with unit_of_work(sessions) as session:
        data: Data = {
            "scripts": [plain(s) for s in scripts.list_scripts(session, actor)],
            "queues": [plain(q) for q in routing_admin.list_queues(session, actor)],
            "versions": [],
        }
        if script_id is not None:
            script = scripts.get_script(session, actor, script_id)
            data["row"] = plain(script)
            data["versions"] = [plain(v) for v in scripts.list_versions(session, actor, script_id)]
            data["stored"] = {
                "name": script.name,
                "description": script.description,
                "active": script.active,
                "channels": list(script.channels),
                "queue_ids": list(script.queue_ids),
                "steps": scripts.latest_version(session, script).steps,
            }
        return data


def save_script(sessions: Sessions, actor: Actor, script_id: int | None, values: Data) -> int:
    with unit_of_work(sessions) as session:
        return (
            scripts.create_script(session, actor, values)
            if script_id is None
            else scripts.update_script(session, actor, script_id, values)
        ).id


def delete_script(sessions: Sessions, actor: Actor, script_id: int) -> None:
    with unit_of_work(sessions) as session:
        scripts.delete_script(session, actor, script_id)


# --- the runner ------------------------------------------------------------------------------------


def panel_view(sessions: Sessions, actor: Actor, conversation_id: int) -> Data:
    """The run in progress (or the last one) and the scripts the agent may start here."""
    with unit_of_work(sessions) as session:
        get_owned(session, Conversation, actor.tenant_id, conversation_id)
        runs = scripts.list_runs(session, actor, conversation_id)
        run = next((r for r in runs if r.status == scripts.IN_PROGRESS), None)
        return {
            "shown": scripts.view(session, actor, run) if run is not None else None,
            "last": scripts.view(session, actor, runs[0]) if run is None and runs else None,
            "available": [plain(s) for s in scripts.applicable(session, actor, conversation_id)],
        }


def _own_run(session: Session, actor: Actor, conversation_id: int, run_id: int) -> ScriptRun:
    run = scripts.get_run(session, actor, run_id)
    if run.conversation_id != conversation_id:
        raise NotFound("error.not_found_id", kind="script_runs", id=run_id)
    return run


def _on_run(sessions: Sessions, actor: Actor, conversation_id: int, act: Callable[[Session], bool]) -> bool:
    with unit_of_work(sessions) as session:
        get_owned(session, Conversation, actor.tenant_id, conversation_id)
        return act(session)


def start_run(sessions: Sessions, actor: Actor, conversation_id: int, script_id: int) -> bool:
    """Start the script on the conversation; False: nothing was saved on the contact."""

    def act(session: Session) -> bool:
        scripts.start_run(session, actor, conversation_id, script_id)
        return False

    return _on_run(sessions, actor, conversation_id, act)


def answer_step(
    sessions: Sessions, actor: Actor, conversation_id: int, run_id: int, step_id: str | None, value: str | None
) -> bool:
    """Answer the current step; True when the answer was saved on the contact or conversation."""

    def act(session: Session) -> bool:
        before = scripts.view(session, actor, _own_run(session, actor, conversation_id, run_id))
        scripts.answer_step(session, actor, run_id, step_id, value)
        return bool(before.step and before.step.target)

    return _on_run(sessions, actor, conversation_id, act)


def _move(
    sessions: Sessions,
    actor: Actor,
    conversation_id: int,
    run_id: int,
    move: Callable[[Session, Actor, int], ScriptRun],
) -> bool:
    """Move the conversation's run (back, abandon); False: nothing was saved on the contact."""

    def act(session: Session) -> bool:
        _own_run(session, actor, conversation_id, run_id)
        move(session, actor, run_id)
        return False

    return _on_run(sessions, actor, conversation_id, act)


def go_back(sessions: Sessions, actor: Actor, conversation_id: int, run_id: int) -> bool:
    return _move(sessions, actor, conversation_id, run_id, scripts.go_back)


def abandon_run(sessions: Sessions, actor: Actor, conversation_id: int, run_id: int) -> bool:
    return _move(sessions, actor, conversation_id, run_id, scripts.abandon_run)


def attributes_view(sessions: Sessions, actor: Actor, conversation_id: int) -> Data:
    """The attributes part of the customer panel: the contact's and the conversation's."""
    with unit_of_work(sessions) as session:
        conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
        return {
            "conversation": plain(conversation),
            "contact": plain(live_contact(session, actor.tenant_id, conversation.contact_id)),
        }
