"""Guided scripts in the desktop: the admin designer (``/admin/scripts[/{id}]``) and the runner panel
beside a conversation (``/conversations/{id}/script``).

The designer is a plain form, no client code: "add step", "remove", "move up/down" and "update
preview" post the draft back and the page comes back with the draft changed (nothing saved);
"save" checks the whole design (every problem shown next to its field) and makes it the new live
version. The runner is an htmx fragment refreshed on ``raccordo:script`` (``scripts.js`` fires it
on ``script.*`` events of the open conversation); answering also refreshes the attributes in the
customer panel (``raccordo:attributes``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.channels.base import channel_kinds
from raccordo.desk.domain import scripts as rules
from raccordo.desk.domain.templates import KNOWN_VARIABLES
from raccordo.desk.services import scripts
from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Conversation, Script
from raccordo.platform.web.forms import FormDep, field_errors, form_id
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import get_owned
from raccordo.routing.services import admin as routing_admin

router = APIRouter(route_class=PageRoute, include_in_schema=False)
ANSWER_TYPES = tuple(t.value for t in rules.AnswerType)


def _admin(me: Me) -> None:
    me.require(Permission.MANAGE_CONTENT)


# --- the designer's form <-> a design ----------------------------------------------------------------


def _blank_step(index: int) -> dict[str, Any]:
    return {"id": f"step-{index + 1}", "title": "", "prompt": "", "answer": None, "options": [], "target": None, "branches": {}, "next": None}


def _form_steps(form: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps as posted: ``s{i}-…`` fields; branch selects carry their answer in ``s{i}-bkey-{k}``."""
    try:
        count = max(0, min(int(form.get("steps_count") or 0), rules.MAX_STEPS))
    except (TypeError, ValueError):  # not a number, or the field sent twice (a list)
        count = 0
    steps = []
    for i in range(count):
        get = lambda name: str(form.get(f"s{i}-{name}") or "")  # noqa: B023,E731
        answer = get("answer").strip() or None
        options = [line.strip() for line in get("options").splitlines() if line.strip()] if answer == "choice" else []
        keys = ["yes", "no"] if answer == "yes_no" else options
        branches = {}
        for k in range(rules.MAX_OPTIONS):
            key, to = get(f"bkey-{k}"), get(f"branch-{k}").strip()
            if key in keys and to:  # a branch of an option that was just removed goes with it
                branches[key] = to
        steps.append({
            "id": get("id").strip(), "title": get("title").strip(), "prompt": get("prompt"), "answer": answer, "options": options,
            "target": get("target").strip() or None, "branches": branches, "next": get("next").strip() or None,
        })
    return steps


def _apply_op(steps: list[dict[str, Any]], op: str) -> list[dict[str, Any]]:
    """add / remove-N / up-N / down-N on the draft."""
    name, _, number = op.partition("-")
    if name == "add" and len(steps) < rules.MAX_STEPS:
        taken = {s["id"] for s in steps}
        index = len(steps)
        while _blank_step(index)["id"] in taken:
            index += 1
        return [*steps, _blank_step(index)]
    if not number.isdecimal() or int(number) >= len(steps):
        return steps
    i = int(number)
    steps = list(steps)
    if name == "remove":
        del steps[i]
    elif name == "up" and i > 0:
        steps[i - 1], steps[i] = steps[i], steps[i - 1]
    elif name == "down" and i + 1 < len(steps):
        steps[i + 1], steps[i] = steps[i], steps[i + 1]
    return steps


def _problem_errors(found: list[rules.Problem], lang: str) -> dict[str, str]:
    """``steps.2.prompt`` → the form field ``s2-prompt``, translated; the first problem per field."""
    errors: dict[str, str] = {}
    for problem in found:
        parts = problem.field.split(".")
        key = f"s{parts[1]}-{parts[2]}" if len(parts) == 3 else problem.field.replace(".", "-")
        errors.setdefault(key, translate(problem.key, lang, **problem.params))
    return errors


def _preview(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each step with where each answer leads (for the flow preview); tolerant of a draft with problems."""
    try:
        design = rules.parse(steps)
    except RaccordoError:
        return []
    out = []
    for step in design.steps:
        routes = [(key, step.branches.get(key) or step.next) for key in step.branch_keys()]
        out.append({"step": step, "routes": routes, "default": step.next})
    return out


def _designer(request: Request, me: Me, script: Script | None, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        rows = scripts.list_scripts(session, me.actor)
        queues = routing_admin.list_queues(session, me.actor)
        versions = scripts.list_versions(session, me.actor, script.id) if script is not None else []
        if values is None:
            if script is not None:
                values = {
                    "name": script.name, "description": script.description, "active": script.active, "channels": list(script.channels),
                    "queue_ids": list(script.queue_ids), "steps": scripts.latest_version(session, script).steps,
                }
            else:
                values = {"name": "", "description": "", "active": True, "channels": [], "queue_ids": [], "steps": [_blank_step(0)]}
    return render(request, "admin/scripts.html", base_context(
        me, nav="scripts", scripts=rows, script=script, v=values, errors=errors, queues=queues, channels=channel_kinds(),
        answer_types=ANSWER_TYPES, variables=KNOWN_VARIABLES, preview=_preview(values["steps"]), versions=versions,
        saved=request.query_params.get("saved"),
    ), status_code=status)


@router.get("/admin/scripts")
def scripts_page(request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    return _designer(request, me, None, None, {})


@router.get("/admin/scripts/{script_id}")
def script_edit_page(script_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        script = get_owned(session, Script, me.actor.tenant_id, script_id)
    return _designer(request, me, script, None, {})


def _ints(value: Any) -> list[int]:
    items = value if isinstance(value, list) else [value] if value else []
    return [id_ for id_ in map(form_id, items) if id_ is not None]


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value] if value else []
    return [str(v) for v in items if str(v)]


def _save(request: Request, me: Me, form: dict[str, Any], script_id: int | None) -> Response:
    _admin(me)
    current = None
    if script_id is not None:
        with unit_of_work(runtime(request).sessions) as session:
            current = get_owned(session, Script, me.actor.tenant_id, script_id)
    values = {
        "name": str(form.get("name") or "").strip(), "description": str(form.get("description") or ""),
        "active": str(form.get("active") or "") in ("1", "on", "true"), "channels": _strings(form.get("channels[]")),
        "queue_ids": _ints(form.get("queue_ids[]")), "steps": _form_steps(form),
    }
    op = str(form.get("op") or "save")
    if op != "save":  # edit the draft; nothing is saved
        values["steps"] = _apply_op(values["steps"], op)
        return _designer(request, me, current, values, {})
    try:
        found = rules.problems(rules.parse(values["steps"]))
    except RaccordoError as exc:
        found = [rules.Problem(exc.field or "steps", exc.key, exc.params)]
    if found:
        return _designer(request, me, current, values, _problem_errors(found, me.lang), 422)
    try:
        with unit_of_work(runtime(request).sessions) as session:
            if script_id is None:
                saved_id = scripts.create_script(session, me.actor, values).id
            else:
                saved_id = scripts.update_script(session, me.actor, script_id, values).id
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        errors = field_errors(exc, me.lang) if not (exc.field or "").startswith("steps.") else _problem_errors([rules.Problem(exc.field or "", exc.key, exc.params)], me.lang)
        return _designer(request, me, current, values, errors, 422)
    return RedirectResponse(f"/admin/scripts/{saved_id}?saved=1", status_code=303)


@router.post("/admin/scripts")
def script_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save(request, me, form, None)


@router.post("/admin/scripts/{script_id}")
def script_update(script_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save(request, me, form, script_id)


@router.post("/admin/scripts/{script_id}/delete")
def script_delete(script_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        scripts.delete_script(session, me.actor, script_id)
    return RedirectResponse("/admin/scripts?saved=1", status_code=303)


# --- the runner beside a conversation ----------------------------------------------------------------


def _panel(request: Request, me: Me, conversation_id: int, errors: dict[str, str] | None = None, draft: str = "", status: int = 200, attributes_changed: bool = False) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        get_owned(session, Conversation, me.actor.tenant_id, conversation_id)
        run = scripts.active_run(session, me.actor, conversation_id)
        runs = scripts.list_runs(session, me.actor, conversation_id)
        shown = scripts.view(session, me.actor, run) if run is not None else None
        last = scripts.view(session, me.actor, runs[0]) if run is None and runs else None
        available = scripts.applicable(session, me.actor, conversation_id)
        body = render(request, "_script_panel.html", base_context(
            me, conversation_id=conversation_id, shown=shown, last=last, available=available, script_errors=errors or {}, draft=draft,
        ), status_code=status, headers={"HX-Trigger": "raccordo:attributes"} if attributes_changed else None)
    return body


@router.get("/conversations/{conversation_id}/script")
def script_panel(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    return _panel(request, me, conversation_id)


def _run_action(request: Request, me: Me, conversation_id: int, action: Any, draft: str = "") -> Response:
    me.require(Permission.WORK)
    try:
        with unit_of_work(runtime(request).sessions) as session:
            get_owned(session, Conversation, me.actor.tenant_id, conversation_id)
            changed = action(session)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _panel(request, me, conversation_id, field_errors(exc, me.lang), draft, 422)
    return _panel(request, me, conversation_id, attributes_changed=bool(changed))


def _own_run(session: Any, me: Me, conversation_id: int, run_id: int) -> Any:
    run = scripts.get_run(session, me.actor, run_id)
    if run.conversation_id != conversation_id:
        raise NotFound("error.not_found_id", kind="script_runs", id=run_id)
    return run


@router.post("/conversations/{conversation_id}/script/start")
def script_start(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    script_id = str(form.get("script_id") or "")
    if form_id(script_id) is None:
        return _panel(request, me, conversation_id, {"script_id": translate("ui.scripts.choose", me.lang)}, status=422)
    return _run_action(request, me, conversation_id, lambda session: scripts.start_run(session, me.actor, conversation_id, int(script_id)) and False)


@router.post("/conversations/{conversation_id}/script/{run_id}/answer")
def script_answer(conversation_id: int, run_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    value = form.get("value")
    value = str(value) if value is not None else None

    def act(session: Any) -> bool:
        _own_run(session, me, conversation_id, run_id)
        before = scripts.view(session, me.actor, scripts.get_run(session, me.actor, run_id))
        scripts.answer_step(session, me.actor, run_id, str(form.get("step_id") or "") or None, value)
        return bool(before.step and before.step.target)

    return _run_action(request, me, conversation_id, act, draft=value or "")


@router.post("/conversations/{conversation_id}/script/{run_id}/back")
def script_back(conversation_id: int, run_id: int, request: Request, me: Me = MeDep) -> Response:
    return _run_action(request, me, conversation_id, lambda session: _own_run(session, me, conversation_id, run_id) and scripts.go_back(session, me.actor, run_id) and False)


@router.post("/conversations/{conversation_id}/script/{run_id}/abandon")
def script_abandon(conversation_id: int, run_id: int, request: Request, me: Me = MeDep) -> Response:
    return _run_action(request, me, conversation_id, lambda session: _own_run(session, me, conversation_id, run_id) and scripts.abandon_run(session, me.actor, run_id) and False)


@router.get("/conversations/{conversation_id}/attributes")
def customer_attributes(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    """The attributes part of the customer panel (refreshed when a script saves an answer)."""
    me.require(Permission.READ)
    with unit_of_work(runtime(request).sessions) as session:
        conversation = get_owned(session, Conversation, me.actor.tenant_id, conversation_id)
        contact = live_contact(session, me.actor.tenant_id, conversation.contact_id)
        return render(request, "_customer_attributes.html", base_context(me, conversation=conversation, contact=contact))
