"""Guided scripts: admins design them (every saved design is a new immutable version), agents run
them beside a conversation; answers go into the conversation's or the contact's custom attributes.

Live changes: a run follows the version it started with, and moves onto the latest version at its
next step, as long as the step it stands on still exists there (same id); otherwise it keeps its own
version to the end. The run view shows the version it would use (``effective_version``), and the
next answer or "back" stores that move. See ``domain/scripts.py`` for the design rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.channels.base import channel_kinds
from raccordo.desk.domain import scripts as rules
from raccordo.desk.domain import templates as template_rules
from raccordo.desk.models import Script, ScriptRun, ScriptVersion
from raccordo.desk.services import templates
from raccordo.platform.errors import Conflict, InvalidInput
from raccordo.platform.events import emit
from raccordo.platform.store.models import fold_name
from raccordo.record.models import Conversation
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import (
    add_conversation_timeline,
    audit,
    get_owned,
    queues_went_through,
)
from raccordo.routing.models import RoutingQueue

FIELDS = ("name", "description", "active", "channels", "queue_ids", "steps")
IN_PROGRESS, COMPLETED, ABANDONED = "in_progress", "completed", "abandoned"


# --- design (admins) -------------------------------------------------------------------------------


def list_scripts(session: Session, actor: Actor, *, active_only: bool = False) -> list[Script]:
    actor.require(Permission.READ)
    query = select(Script).where(Script.tenant_id == actor.tenant_id)
    if active_only:
        query = query.where(Script.active.is_(True))
    return list(session.scalars(query.order_by(func.lower(Script.name), Script.id)))


def get_script(session: Session, actor: Actor, script_id: int) -> Script:
    actor.require(Permission.READ)
    return get_owned(session, Script, actor.tenant_id, script_id)


def latest_version(session: Session, script: Script) -> ScriptVersion:
    return session.scalars(
        select(ScriptVersion).where(ScriptVersion.script_id == script.id, ScriptVersion.number == script.version)
    ).one()


def latest_versions(session: Session, scripts: list[Script]) -> dict[int, ScriptVersion]:
    """Each script's live version, in one query for the whole list."""
    if not scripts:
        return {}
    query = (
        select(ScriptVersion)
        .join(Script, (Script.id == ScriptVersion.script_id) & (Script.version == ScriptVersion.number))
        .where(Script.id.in_([s.id for s in scripts]))
    )
    return {version.script_id: version for version in session.scalars(query)}


def list_versions(session: Session, actor: Actor, script_id: int) -> list[ScriptVersion]:
    script = get_script(session, actor, script_id)
    return list(
        session.scalars(
            select(ScriptVersion).where(ScriptVersion.script_id == script.id).order_by(ScriptVersion.number.desc())
        )
    )


def _clean(session: Session, actor: Actor, values: dict[str, Any], script_id: int | None) -> dict[str, Any]:
    values = {k: v for k, v in values.items() if k in FIELDS}
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
        if not values["name"] or len(values["name"]) > 100:
            raise InvalidInput("script.name_required", field="name")
        query = select(Script.id).where(
            Script.tenant_id == actor.tenant_id, Script.name_key == fold_name(values["name"])
        )
        if script_id is not None:
            query = query.where(Script.id != script_id)
        if session.scalar(query) is not None:
            raise Conflict("script.name_exists", field="name", value=values["name"])
    if "description" in values:
        values["description"] = (values["description"] or "").strip()
        if len(values["description"]) > 2000:
            raise InvalidInput("script.description_too_long", field="description", limit=2000)
    if "channels" in values:
        channels = sorted(set(values["channels"] or []))
        known = channel_kinds()
        for channel in channels:
            if channel not in known:
                raise InvalidInput("script.channel_unknown", field="channels", value=channel)
        values["channels"] = channels
    if "queue_ids" in values:
        queue_ids = sorted(set(values["queue_ids"] or []))
        for queue_id in queue_ids:
            get_owned(session, RoutingQueue, actor.tenant_id, queue_id)  # another tenant's queue: 404
        values["queue_ids"] = queue_ids
    if "steps" in values:
        values["steps"] = rules.validate(values["steps"]).as_list()
    return values


def _new_version(session: Session, actor: Actor, script: Script, steps: list[dict[str, Any]]) -> ScriptVersion:
    version = ScriptVersion(
        tenant_id=actor.tenant_id, script_id=script.id, number=script.version, steps=steps, created_by=actor.user_id
    )
    session.add(version)
    session.flush()
    return version


def create_script(session: Session, actor: Actor, values: dict[str, Any]) -> Script:
    actor.require(Permission.MANAGE_CONTENT)
    if "steps" not in values or values.get("steps") is None:
        raise InvalidInput("script.steps_required", field="steps")
    values = _clean(session, actor, {"name": values.get("name") or "", **values}, None)
    now = datetime.now(UTC)
    script = Script(
        tenant_id=actor.tenant_id,
        name=values["name"],
        description=values.get("description", ""),
        active=values.get("active", True) is not False,
        channels=values.get("channels", []),
        queue_ids=values.get("queue_ids", []),
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(script)
    session.flush()
    _new_version(session, actor, script, values["steps"])
    audit(session, actor, "script.created", "script", script.id, {"name": script.name})
    return script


def update_script(session: Session, actor: Actor, script_id: int, values: dict[str, Any]) -> Script:
    """Change the script; a design different from the latest one becomes a new version, live at once."""
    actor.require(Permission.MANAGE_CONTENT)
    script = get_owned(session, Script, actor.tenant_id, script_id, lock=True)
    values = _clean(session, actor, {k: v for k, v in values.items() if v is not None or k == "description"}, script_id)
    steps = values.pop("steps", None)
    for name, value in values.items():
        setattr(script, name, value if value is not None else "")
    changed = steps is not None and steps != latest_version(session, script).steps
    if changed:
        script.version += 1
        _new_version(session, actor, script, steps)
        # Every run in progress hears about it, so the agent's panel shows the new version.
        for run in session.scalars(
            select(ScriptRun).where(
                ScriptRun.tenant_id == actor.tenant_id,
                ScriptRun.script_id == script.id,
                ScriptRun.status == IN_PROGRESS,
            )
        ):
            _emit(session, run, "script.changed")
    script.updated_at = datetime.now(UTC)
    audit(
        session,
        actor,
        "script.updated",
        "script",
        script.id,
        {"fields": sorted(values) + (["steps"] if changed else []), "version": script.version},
    )
    return script


def delete_script(session: Session, actor: Actor, script_id: int) -> None:
    """Delete the script, its versions and its runs; answers already saved in attributes stay."""
    actor.require(Permission.MANAGE_CONTENT)
    script = get_owned(session, Script, actor.tenant_id, script_id)
    for run in session.scalars(
        select(ScriptRun).where(ScriptRun.script_id == script.id, ScriptRun.status == IN_PROGRESS)
    ):
        _emit(session, run, "script.changed")
    audit(session, actor, "script.deleted", "script", script.id, {"name": script.name})
    session.delete(script)


# --- which scripts fit a conversation --------------------------------------------------------------


def _conversation_queues(session: Session, conversation: Conversation) -> set[int]:
    return queues_went_through(session, conversation.id)


def applicable(session: Session, actor: Actor, conversation_id: int) -> list[Script]:
    """Active scripts for this conversation: no channel/queue limits, or its channel / a queue it went through."""
    actor.require(Permission.READ)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    queues = _conversation_queues(session, conversation)
    return [
        s
        for s in list_scripts(session, actor, active_only=True)
        if (not s.channels or conversation.last_channel in s.channels)
        and (not s.queue_ids or queues & set(s.queue_ids))
    ]


# --- runs (agents) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """A run as the panel and the API show it: the version it follows now and its current step."""

    run: ScriptRun
    script: Script
    version: ScriptVersion
    design: rules.Design
    step: rules.Step | None
    prompt: str
    path: list[dict[str, Any]]
    upgraded: bool  # the run moves onto a newer version at this step


def _design(version: ScriptVersion) -> rules.Design:
    return rules.parse(version.steps)


def _state(run: ScriptRun) -> rules.RunState:
    return rules.RunState(run.current_step, tuple(rules.Answer(a["step"], a.get("value")) for a in run.answers or []))


def effective_version(session: Session, run: ScriptRun) -> tuple[ScriptVersion, bool]:
    """The version the run follows from now: the latest when its current step still exists there."""
    own = session.get_one(ScriptVersion, run.version_id)
    script = session.get_one(Script, run.script_id)
    if run.status != IN_PROGRESS or script.version == own.number:
        return own, False
    latest = latest_version(session, script)
    if rules.follows(_design(latest), run.current_step):
        return latest, True
    return own, False


def view(session: Session, actor: Actor, run: ScriptRun) -> RunView:
    version, upgraded = effective_version(session, run)
    design = _design(version)
    script = session.get_one(Script, run.script_id)
    step = design.step(run.current_step) if run.status == IN_PROGRESS else None
    prompt = ""
    if step is not None:
        conversation = session.get_one(Conversation, run.conversation_id)
        values, _ = templates.conversation_values(session, actor, conversation)
        prompt = template_rules.render(step.prompt, {**values, **rules.values_for_prompt(_state(run).history)})
    own = design if version.id == run.version_id else _design(session.get_one(ScriptVersion, run.version_id))
    path = []
    for item in run.answers or []:
        known = design.step(item["step"]) or own.step(item["step"])
        path.append(
            {
                **item,
                "title": (known.title or known.id) if known else item["step"],
                "target": known.target if known else None,
                "answer": known.answer.value if known and known.answer else None,
            }
        )
    return RunView(run, script, version, design, step, prompt, path, upgraded)


def get_run(session: Session, actor: Actor, run_id: int, *, lock: bool = False) -> ScriptRun:
    actor.require(Permission.READ)
    return get_owned(session, ScriptRun, actor.tenant_id, run_id, lock=lock)


def list_runs(session: Session, actor: Actor, conversation_id: int) -> list[ScriptRun]:
    actor.require(Permission.READ)
    get_owned(session, Conversation, actor.tenant_id, conversation_id)
    return list(
        session.scalars(
            select(ScriptRun)
            .where(ScriptRun.tenant_id == actor.tenant_id, ScriptRun.conversation_id == conversation_id)
            .order_by(ScriptRun.id.desc())
        )
    )


def active_run(session: Session, actor: Actor, conversation_id: int) -> ScriptRun | None:
    return next((r for r in list_runs(session, actor, conversation_id) if r.status == IN_PROGRESS), None)


def _emit(session: Session, run: ScriptRun, kind: str) -> None:
    # Addressed to the conversation: whoever has it open (and supervisors) refreshes the panel.
    emit(
        session,
        run.tenant_id,
        kind,
        {"run_id": run.id, "script_id": run.script_id, "status": run.status, "step": run.current_step},
        conversation_id=run.conversation_id,
    )


def _timeline(session: Session, actor: Actor, run: ScriptRun, kind: str, data: dict[str, Any]) -> None:
    add_conversation_timeline(session, actor, session.get_one(Conversation, run.conversation_id), kind, data)


def start_run(session: Session, actor: Actor, conversation_id: int, script_id: int) -> ScriptRun:
    """Start a script on a conversation (one run in progress per conversation: 409 otherwise)."""
    actor.require(Permission.WORK)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id, lock=True)
    script = get_owned(session, Script, actor.tenant_id, script_id)
    if not script.active:
        raise InvalidInput("script.inactive", field="script_id", name=script.name)
    if active_run(session, actor, conversation.id) is not None:
        raise Conflict("script.run_in_progress", field="script_id")
    version = latest_version(session, script)
    now = datetime.now(UTC)
    run = ScriptRun(
        tenant_id=actor.tenant_id,
        script_id=script.id,
        version_id=version.id,
        conversation_id=conversation.id,
        agent_id=actor.user_id,
        current_step=rules.start(_design(version)).current,
        answers=[],
        status=IN_PROGRESS,
        started_at=now,
        updated_at=now,
    )
    session.add(run)
    session.flush()
    _timeline(session, actor, run, "script_started", {"script": script.name, "run_id": run.id})
    audit(
        session,
        actor,
        "script.run_started",
        "script_run",
        run.id,
        {"script_id": script.id, "conversation_id": conversation.id},
    )
    _emit(session, run, "script.run_updated")
    return run


def _in_progress(run: ScriptRun) -> None:
    if run.status != IN_PROGRESS:
        raise Conflict("script.run_finished", field="status", status=run.status)


def _save_attribute(session: Session, actor: Actor, run: ScriptRun, target: str, value: Any) -> None:
    match = rules.TARGET.match(target)
    assert match is not None  # validated with the design
    scope, key = match.groups()
    conversation = session.get_one(Conversation, run.conversation_id)
    owner: Any = (
        conversation if scope == "conversation" else live_contact(session, actor.tenant_id, conversation.contact_id)
    )
    owner.custom_attributes = {
        **(owner.custom_attributes or {}),
        key: value,
    }  # a new dict: JSON columns track assignment
    if scope == "conversation":
        conversation.updated_at = datetime.now(UTC)


def answer_step(session: Session, actor: Actor, run_id: int, step_id: str | None, raw: Any) -> ScriptRun:
    """Answer the run's current step: the checked value goes into its target attribute, the run moves on
    (to the end: completed). ``step_id`` is the step the agent answered; another one is a 409."""
    actor.require(Permission.WORK)
    run = get_run(session, actor, run_id, lock=True)
    _in_progress(run)
    version, upgraded = effective_version(session, run)
    if step_id is not None and step_id != run.current_step:
        raise Conflict("script.step_moved", field="step_id", value=step_id, current=run.current_step or "")
    design = _design(version)
    state, value = rules.answer(design, _state(run), raw)
    step = design.step(run.current_step)
    assert step is not None
    now = datetime.now(UTC)
    if step.target:
        _save_attribute(session, actor, run, step.target, value)
    run.answers = [*(run.answers or []), {"step": step.id, "value": value, "at": now.isoformat(), "by": actor.user_id}]
    run.version_id = version.id
    run.current_step = state.current
    run.updated_at = now
    if state.finished:
        run.status, run.finished_at = COMPLETED, now
    script = session.get_one(Script, run.script_id)
    if step.answer is not None:
        _timeline(
            session,
            actor,
            run,
            "script_answered",
            {"script": script.name, "step": step.id, "target": step.target, "value": value, "version": version.number},
        )
    if state.finished:
        _timeline(session, actor, run, "script_completed", {"script": script.name, "run_id": run.id})
    audit(
        session,
        actor,
        "script.answered",
        "script_run",
        run.id,
        {"step": step.id, "target": step.target, "upgraded": upgraded},
    )
    _emit(session, run, "script.run_updated")
    return run


def go_back(session: Session, actor: Actor, run_id: int) -> ScriptRun:
    """One step back (a completed run opens again at its last step); saved attributes stay until re-answered."""
    actor.require(Permission.WORK)
    run = get_run(session, actor, run_id, lock=True)
    if run.status == ABANDONED:
        raise Conflict("script.run_finished", field="status", status=run.status)
    version, _ = effective_version(session, run)
    design = _design(version)
    state = rules.back(design, _state(run))
    if len(state.history) == len(run.answers or []):
        raise Conflict("script.at_start", field="step_id")
    run.version_id = version.id
    run.current_step = state.current
    run.answers = (run.answers or [])[: len(state.history)]
    run.status, run.finished_at = IN_PROGRESS, None
    run.updated_at = datetime.now(UTC)
    _emit(session, run, "script.run_updated")
    return run


def abandon_run(session: Session, actor: Actor, run_id: int) -> ScriptRun:
    actor.require(Permission.WORK)
    run = get_run(session, actor, run_id, lock=True)
    _in_progress(run)
    now = datetime.now(UTC)
    run.status, run.finished_at, run.updated_at = ABANDONED, now, now
    script = session.get_one(Script, run.script_id)
    _timeline(
        session, actor, run, "script_abandoned", {"script": script.name, "run_id": run.id, "step": run.current_step}
    )
    audit(session, actor, "script.run_abandoned", "script_run", run.id, {"step": run.current_step})
    _emit(session, run, "script.run_updated")
    return run
