"""Guided scripts in the desktop: the admin designer (``/admin/scripts[/{id}]``) and the runner panel
beside a conversation (``/conversations/{id}/script``).

The designer is a plain form, no client code, on the admin resource helper: "add step", "remove",
"move up/down" and "update preview" post the draft back and the page comes back with the draft
changed (nothing saved); "save" checks the whole design (every problem shown next to its field)
and makes it the new live version. The runner is an htmx fragment refreshed on ``raccordo:script``
(``scripts.js`` fires it on ``script.*`` events of the open conversation); answering also
refreshes the attributes in the customer panel (``raccordo:attributes``). Both call the use cases
of ``desk.services.scripting``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.channels.base import channel_kinds
from raccordo.desk.domain import scripts as rules
from raccordo.desk.domain.templates import KNOWN_VARIABLES
from raccordo.desk.services import scripting
from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.i18n import translate
from raccordo.platform.web.admin import AdminResource, Values
from raccordo.platform.web.forms import FormDep, FormErrors, FormReader, field_errors, form_id
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
ANSWER_TYPES = tuple(t.value for t in rules.AnswerType)


def _admin(me: Me) -> None:
    me.require(Permission.MANAGE_CONTENT)


def _sessions(request: Request) -> Any:
    return runtime(request).sessions


# --- the designer's form <-> a design ----------------------------------------------------------------


def _blank_step(index: int) -> dict[str, Any]:
    return {
        "id": f"step-{index + 1}",
        "title": "",
        "prompt": "",
        "answer": None,
        "options": [],
        "target": None,
        "branches": {},
        "next": None,
    }


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
        steps.append(
            {
                "id": get("id").strip(),
                "title": get("title").strip(),
                "prompt": get("prompt"),
                "answer": answer,
                "options": options,
                "target": get("target").strip() or None,
                "branches": branches,
                "next": get("next").strip() or None,
            }
        )
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


def _ints(value: Any) -> list[int]:
    items = value if isinstance(value, list) else [value] if value else []
    return [id_ for id_ in map(form_id, items) if id_ is not None]


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value] if value else []
    return [str(v) for v in items if str(v)]


def _read(reader: FormReader) -> Values:
    form = reader.form
    return {
        "name": str(form.get("name") or "").strip(),
        "description": str(form.get("description") or ""),
        "active": reader.checked("active"),
        "channels": _strings(form.get("channels[]")),
        "queue_ids": _ints(form.get("queue_ids[]")),
        "steps": _form_steps(form),
        "op": str(form.get("op") or "save"),
    }


def _save(request: Request, me: Me, script_id: int | None, values: Values) -> int | Response:
    op = values.pop("op", "save")
    if op != "save":  # edit the draft; nothing is saved
        values["steps"] = _apply_op(values["steps"], op)
        return designer.render(request, me, script_id, values)
    try:
        found = rules.problems(rules.parse(values["steps"]))
    except RaccordoError as exc:
        found = [rules.Problem(exc.field or "steps", exc.key, exc.params)]
    if found:
        raise FormErrors(_problem_errors(found, me.lang))
    return scripting.save_script(_sessions(request), me.actor, script_id, values)


def _errors(exc: RaccordoError, lang: str) -> dict[str, str]:
    if (exc.field or "").startswith("steps."):
        return _problem_errors([rules.Problem(exc.field or "", exc.key, exc.params)], lang)
    return field_errors(exc, lang)


designer = AdminResource(
    path="/admin/scripts",
    kind="scripts",
    template="admin/scripts.html",
    nav="scripts",
    guard=_admin,
    row_name="script",
    page=lambda request, me, script_id: scripting.designer_view(_sessions(request), me.actor, script_id),
    read=_read,
    create=lambda request, me, values: _save(request, me, None, values),
    update=_save,
    delete=lambda request, me, script_id: scripting.delete_script(_sessions(request), me.actor, script_id),
    defaults={
        "name": "",
        "description": "",
        "active": True,
        "channels": [],
        "queue_ids": [],
        "steps": [_blank_step(0)],
    },
    view=lambda v: {
        "channels": channel_kinds(),
        "answer_types": ANSWER_TYPES,
        "variables": KNOWN_VARIABLES,
        "preview": _preview(v["steps"]),
    },
    errors_of=_errors,
)
designer.mount(router, MeDep)


# --- the runner beside a conversation ----------------------------------------------------------------


def _panel(
    request: Request,
    me: Me,
    conversation_id: int,
    errors: dict[str, str] | None = None,
    draft: str = "",
    status: int = 200,
    attributes_changed: bool = False,
) -> Response:
    data = scripting.panel_view(_sessions(request), me.actor, conversation_id)
    return render(
        request,
        "_script_panel.html",
        base_context(
            me,
            conversation_id=conversation_id,
            script_errors=errors or {},
            draft=draft,
            **data,
        ),
        status_code=status,
        headers={"HX-Trigger": "raccordo:attributes"} if attributes_changed else None,
    )


@router.get("/conversations/{conversation_id}/script")
def script_panel(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    return _panel(request, me, conversation_id)


def _run_action(
    request: Request, me: Me, conversation_id: int, action: Callable[[], bool], draft: str = ""
) -> Response:
    me.require(Permission.WORK)
    try:
        changed = action()
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _panel(request, me, conversation_id, field_errors(exc, me.lang), draft, 422)
    return _panel(request, me, conversation_id, attributes_changed=changed)


@router.post("/conversations/{conversation_id}/script/start")
def script_start(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    script_id = form_id(form.get("script_id"))
    if script_id is None:
        return _panel(request, me, conversation_id, {"script_id": translate("ui.scripts.choose", me.lang)}, status=422)
    return _run_action(
        request,
        me,
        conversation_id,
        lambda: scripting.start_run(_sessions(request), me.actor, conversation_id, script_id),
    )


@router.post("/conversations/{conversation_id}/script/{run_id}/answer")
def script_answer(
    conversation_id: int, run_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep
) -> Response:
    value = form.get("value")
    value = str(value) if value is not None else None
    step_id = str(form.get("step_id") or "") or None
    return _run_action(
        request,
        me,
        conversation_id,
        lambda: scripting.answer_step(_sessions(request), me.actor, conversation_id, run_id, step_id, value),
        draft=value or "",
    )


@router.post("/conversations/{conversation_id}/script/{run_id}/back")
def script_back(conversation_id: int, run_id: int, request: Request, me: Me = MeDep) -> Response:
    return _run_action(
        request, me, conversation_id, lambda: scripting.go_back(_sessions(request), me.actor, conversation_id, run_id)
    )


@router.post("/conversations/{conversation_id}/script/{run_id}/abandon")
def script_abandon(conversation_id: int, run_id: int, request: Request, me: Me = MeDep) -> Response:
    return _run_action(
        request,
        me,
        conversation_id,
        lambda: scripting.abandon_run(_sessions(request), me.actor, conversation_id, run_id),
    )


@router.get("/conversations/{conversation_id}/attributes")
def customer_attributes(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    """The attributes part of the customer panel (refreshed when a script saves an answer)."""
    me.require(Permission.READ)
    return render(
        request,
        "_customer_attributes.html",
        base_context(me, **scripting.attributes_view(_sessions(request), me.actor, conversation_id)),
    )
