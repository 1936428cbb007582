"""Guided scripts as the REST API calls them (``desk/api/scripts.py``): each use case opens,
commits or rolls back its own unit of work and returns plain data: a script with the steps of
its latest version, a run with what the agent sees of it now (``scripts.view``)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.desk.domain.scripts import Step
from raccordo.desk.models import Script, ScriptRun, ScriptVersion
from raccordo.desk.services import scripts
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain

Sessions = sessionmaker[Session]
Values = dict[str, Any]


@dataclass(frozen=True)
class RunShown:
    """A run (its columns) with the script's name, the version it follows now, the current step
    (None once finished) and that step's prompt with the variables filled in."""

    run: SimpleNamespace
    script_name: str
    version: int
    step: Step | None
    prompt: str


def _script(session: Session, script: Script, version: ScriptVersion | None = None) -> SimpleNamespace:
    """The script's columns and ``steps``, the design of its latest version."""
    return plain(script, steps=(version or scripts.latest_version(session, script)).steps)


def _scripts(session: Session, rows: list[Script]) -> list[SimpleNamespace]:
    versions = scripts.latest_versions(session, rows)  # one query, not one per script
    return [_script(session, s, versions[s.id]) for s in rows]


def _run(session: Session, actor: Actor, run: ScriptRun) -> RunShown:
    shown = scripts.view(session, actor, run)
    return RunShown(plain(run), shown.script.name, shown.version.number, shown.step, shown.prompt)


# --- design (admins) -------------------------------------------------------------------------------


def list_scripts(sessions: Sessions, actor: Actor) -> list[SimpleNamespace]:
    with unit_of_work(sessions) as session:
        return _scripts(session, scripts.list_scripts(session, actor))


def create_script(sessions: Sessions, actor: Actor, values: Values) -> SimpleNamespace:
    with unit_of_work(sessions) as session:
        return _script(session, scripts.create_script(session, actor, values))


def get_script(sessions: Sessions, actor: Actor, script_id: int) -> SimpleNamespace:
    with unit_of_work(sessions) as session:
        return _script(session, scripts.get_script(session, actor, script_id))


def update_script(sessions: Sessions, actor: Actor, script_id: int, values: Values) -> SimpleNamespace:
    """``values``: the fields to change; a different design becomes a new version."""
    with unit_of_work(sessions) as session:
        return _script(session, scripts.update_script(session, actor, script_id, values))


def delete_script(sessions: Sessions, actor: Actor, script_id: int) -> None:
    with unit_of_work(sessions) as session:
        scripts.delete_script(session, actor, script_id)


def list_versions(sessions: Sessions, actor: Actor, script_id: int) -> list[SimpleNamespace]:
    """Every saved design, newest first."""
    with unit_of_work(sessions) as session:
        return [plain(v) for v in scripts.list_versions(session, actor, script_id)]


def applicable(sessions: Sessions, actor: Actor, conversation_id: int) -> list[SimpleNamespace]:
    """The active scripts that apply to the conversation (its channel, a queue it went through)."""
    with unit_of_work(sessions) as session:
        return _scripts(session, scripts.applicable(session, actor, conversation_id))


# --- runs (agents) ---------------------------------------------------------------------------------


def list_runs(sessions: Sessions, actor: Actor, conversation_id: int) -> list[RunShown]:
    with unit_of_work(sessions) as session:
        return [_run(session, actor, r) for r in scripts.list_runs(session, actor, conversation_id)]


def start_run(sessions: Sessions, actor: Actor, conversation_id: int, script_id: int) -> RunShown:
    with unit_of_work(sessions) as session:
        return _run(session, actor, scripts.start_run(session, actor, conversation_id, script_id))


def get_run(sessions: Sessions, actor: Actor, run_id: int) -> RunShown:
    with unit_of_work(sessions) as session:
        return _run(session, actor, scripts.get_run(session, actor, run_id))


def answer_step(sessions: Sessions, actor: Actor, run_id: int, step_id: str | None, value: Any) -> RunShown:
    """Answer the current step (``step_id``: the step the agent saw; a run that moved on is a 409)."""
    with unit_of_work(sessions) as session:
        return _run(session, actor, scripts.answer_step(session, actor, run_id, step_id, value))


def go_back(sessions: Sessions, actor: Actor, run_id: int) -> RunShown:
    with unit_of_work(sessions) as session:
        return _run(session, actor, scripts.go_back(session, actor, run_id))


def abandon_run(sessions: Sessions, actor: Actor, run_id: int) -> RunShown:
    with unit_of_work(sessions) as session:
        return _run(session, actor, scripts.abandon_run(session, actor, run_id))
