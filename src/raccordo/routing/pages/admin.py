"""Routing admin pages (skills, queues, agents' routing profiles, rules, SLA policies) and the
supervisors' live queue view. Plain HTML forms posted with the CSRF token; every value is checked
by the same services as the API, and their errors (``InvalidInput.field``) are shown, translated,
next to the field they name. A value the page cannot even parse (a number, JSON) gets its own
message here, before the service is called."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.accounts.services import accounts
from raccordo.channels.base import channel_kinds
from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.hours import DAYS
from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import RoutingQueue, RoutingRule, SlaPolicy, User
from raccordo.platform.web.forms import FormDep, FormErrors, FormReader, field_errors, hours_fields, saved_redirect
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render
from raccordo.record.services.records import get_owned
from raccordo.routing.services import admin as routing_admin
from raccordo.routing.services import sla

router = APIRouter(route_class=PageRoute, include_in_schema=False)

STRATEGIES = ("longest_idle", "least_occupied", "round_robin", "best_skill")
OUT_OF_HOURS = ("keep", "message", "callback")
SLA_ACTIONS = ("raise_priority", "notify_supervisors", "reassign")


def _admin(me: Me) -> None:
    me.require(Permission.MANAGE_ROUTING)



def _users(session: Any, me: Me) -> list[User]:
    return [u for u in accounts.list_users(session, me.actor) if u.active]


# --- skills ----------------------------------------------------------------------------------------


def _skills_page(request: Request, me: Me, errors: dict[str, str], status: int = 200, name: str = "") -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        skills = routing_admin.list_skills(session, me.actor)
        return render(request, "admin/skills.html", base_context(me, nav="skills", skills=skills, errors=errors, name=name, saved=request.query_params.get("saved")), status_code=status)


@router.get("/admin/skills")
def skills_page(request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    return _skills_page(request, me, {})


@router.post("/admin/skills")
def skills_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    _admin(me)
    name = str(form.get("name") or "")
    try:
        with unit_of_work(runtime(request).sessions) as session:
            routing_admin.create_skill(session, me.actor, name)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        errors = field_errors(exc, me.lang)
        return _skills_page(request, me, {"name": errors.get("name") or errors.get("_form", "")}, 422, name)
    return saved_redirect("/admin/skills")


@router.post("/admin/skills/{skill_id}/delete")
def skills_delete(skill_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    try:
        with unit_of_work(runtime(request).sessions) as session:
            routing_admin.delete_skill(session, me.actor, skill_id)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _skills_page(request, me, {"_form": field_errors(exc, me.lang).popitem()[1]}, 409)
    return saved_redirect("/admin/skills")


# --- queues ----------------------------------------------------------------------------------------


def _queue_values(reader: FormReader) -> tuple[dict[str, Any], list[int]]:
    values = {
        "name": reader.text("name", required=True),
        "strategy": reader.text("strategy") or "longest_idle",
        "offer_timeout_seconds": reader.integer("offer_timeout_seconds", 1, 3600),
        "ageing_per_minute": reader.number("ageing_per_minute", 0, 100, 0.0),
        "ageing_cap": reader.number("ageing_cap", 0, 1000, 0.0),
        "relax": reader.json("relax", list, []),
        "decline_cooldown_seconds": reader.integer("decline_cooldown_seconds", 0, 86400, 300),
        "preferred_agent_seconds": reader.integer("preferred_agent_seconds", 0, 86400, 0),
        "preferred_agent_hours": reader.integer("preferred_agent_hours", 1, 24 * 365, 72),
        "overflow_after_seconds": reader.integer("overflow_after_seconds", 1, 7 * 86400),
        "overflow_queue_id": reader.integer("overflow_queue_id", 1, 2**62),
        "business_hours": reader.hours(),
        "out_of_hours_action": reader.text("out_of_hours_action") or "keep",
        "out_of_hours_message": reader.text("out_of_hours_message"),
        "requires_wrap_up": reader.checked("requires_wrap_up"),
        "active": reader.checked("active"),
    }
    if values["strategy"] not in STRATEGIES:
        reader.errors["strategy"] = translate("ui.error.choice", reader.lang)
    return values, reader.ids("members")


def _queue_page(request: Request, me: Me, queue: RoutingQueue | None, values: dict[str, Any] | None, members: list[int] | None, errors: dict[str, str], status: int = 200) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        queues = routing_admin.list_queues(session, me.actor)
        users = _users(session, me)
        member_counts = {q.id: len(routing_admin.queue_members(session, me.actor.tenant_id, q.id)) for q in queues}
        if queue is not None and values is None:
            queue = get_owned(session, RoutingQueue, me.actor.tenant_id, queue.id)
            values = {name: getattr(queue, name) for name in routing_admin.QUEUE_FIELDS}
            members = routing_admin.queue_members(session, me.actor.tenant_id, queue.id)
        values = values or {"strategy": "longest_idle", "active": True, "decline_cooldown_seconds": 300, "preferred_agent_hours": 72, "relax": [], "out_of_hours_action": "keep"}
        return render(request, "admin/queues.html", base_context(
            me, nav="queues", queues=queues, users=users, member_counts=member_counts, queue=queue, v=values, members=members or [], errors=errors,
            strategies=STRATEGIES, out_of_hours=OUT_OF_HOURS, days=DAYS, hours=hours_fields(values.get("business_hours")), relax_json=json.dumps(values.get("relax") or []),
            saved=request.query_params.get("saved"),
        ), status_code=status)


@router.get("/admin/queues")
def queues_page(request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    return _queue_page(request, me, None, None, None, {})


@router.get("/admin/queues/{queue_id}")
def queue_edit_page(queue_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        queue = get_owned(session, RoutingQueue, me.actor.tenant_id, queue_id)
    return _queue_page(request, me, queue, None, None, {})


def _save_queue(request: Request, me: Me, form: dict[str, Any], queue_id: int | None) -> Response:
    _admin(me)
    reader = FormReader(form, me.lang)
    values, members = _queue_values(reader)
    queue = None
    try:
        reader.done()
        with unit_of_work(runtime(request).sessions) as session:
            if queue_id is None:
                queue = routing_admin.create_queue(session, me.actor, values)
            else:
                queue = routing_admin.update_queue(session, me.actor, queue_id, values)
            routing_admin.set_queue_members(session, me.actor, queue.id, members)
            saved_id = queue.id
    except FormErrors as exc:
        errors = exc.errors
    except (NotFound, Forbidden) as exc:
        if queue_id is not None and isinstance(exc, NotFound) and exc.params.get("id") == queue_id:
            raise
        errors = field_errors(exc, me.lang)
    except RaccordoError as exc:
        errors = field_errors(exc, me.lang)
    else:
        return saved_redirect(f"/admin/queues/{saved_id}")
    current = None
    if queue_id is not None:
        with unit_of_work(runtime(request).sessions) as session:
            current = get_owned(session, RoutingQueue, me.actor.tenant_id, queue_id)
    return _queue_page(request, me, current, values, members, errors, 422)


@router.post("/admin/queues")
def queue_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save_queue(request, me, form, None)


@router.post("/admin/queues/{queue_id}")
def queue_update(queue_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        get_owned(session, RoutingQueue, me.actor.tenant_id, queue_id)
    return _save_queue(request, me, form, queue_id)


@router.post("/admin/queues/{queue_id}/delete")
def queue_delete(queue_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    try:
        with unit_of_work(runtime(request).sessions) as session:
            routing_admin.delete_queue(session, me.actor, queue_id)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _queue_page(request, me, None, None, None, {"_form": field_errors(exc, me.lang).popitem()[1]}, 409)
    return saved_redirect("/admin/queues")


# --- agents ----------------------------------------------------------------------------------------


@router.get("/admin/agents")
def agents_page(request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        users = _users(session, me)
        profiles = {u.id: routing_admin.agent_profile(session, me.actor, u.id) for u in users}
        queue_names = {q.id: q.name for q in routing_admin.list_queues(session, me.actor)}
        return render(request, "admin/agents.html", base_context(me, nav="agents", users=users, profiles=profiles, queue_names=queue_names, agent=None, saved=None))


def _agent_page(request: Request, me: Me, user_id: int, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        agent = get_owned(session, User, me.actor.tenant_id, user_id)
        profile = routing_admin.agent_profile(session, me.actor, user_id)
        values = values or {"skills": profile.skills, "capacity": profile.capacity, "exclusive": profile.exclusive, "queue_ids": profile.queue_ids}
        return render(request, "admin/agent.html", base_context(
            me, nav="agents", agent=agent, v=values, errors=errors, skills=routing_admin.list_skills(session, me.actor), queues=routing_admin.list_queues(session, me.actor),
            channels=channel_kinds(), saved=request.query_params.get("saved"),
        ), status_code=status)


@router.get("/admin/agents/{user_id}")
def agent_page(user_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    return _agent_page(request, me, user_id, None, {})


@router.post("/admin/agents/{user_id}")
def agent_save(user_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    _admin(me)
    reader = FormReader(form, me.lang)
    skills = {}
    for key in form:
        if key.startswith("skill:"):
            level = reader.integer(key, 0, 5, 0)
            if level:
                skills[key[len("skill:"):]] = level
    capacity = {}
    for channel in channel_kinds():
        value = reader.integer(f"capacity:{channel}", 0, 100)
        if value is not None:
            capacity[channel] = value
    if any(k.startswith("capacity:") for k in reader.errors):
        reader.errors["capacity"] = next(v for k, v in reader.errors.items() if k.startswith("capacity:"))
    exclusive = [c for c in channel_kinds() if reader.checked(f"exclusive:{c}")]
    values = {"skills": skills, "capacity": capacity, "exclusive": exclusive, "queue_ids": reader.ids("queue_ids")}
    try:
        reader.done()
        with unit_of_work(runtime(request).sessions) as session:
            routing_admin.set_agent_profile(session, me.actor, user_id, **values)
    except FormErrors as exc:
        return _agent_page(request, me, user_id, values, exc.errors, 422)
    except (NotFound, Forbidden) as exc:
        if isinstance(exc, NotFound) and exc.params.get("id") == user_id:
            raise
        return _agent_page(request, me, user_id, values, field_errors(exc, me.lang), 422)
    except RaccordoError as exc:
        return _agent_page(request, me, user_id, values, field_errors(exc, me.lang), 422)
    return saved_redirect(f"/admin/agents/{user_id}")


# --- routing rules ---------------------------------------------------------------------------------


def _rule_page(request: Request, me: Me, rule: RoutingRule | None, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        rules = routing_admin.list_rules(session, me.actor)
        queues = routing_admin.list_queues(session, me.actor)
        if rule is not None and values is None:
            rule = get_owned(session, RoutingRule, me.actor.tenant_id, rule.id)
            values = {name: getattr(rule, name) for name in routing_admin.RULE_FIELDS}
        values = values or {"position": 0, "priority": 0, "conditions": [], "required_skills": {}, "active": True}
        conditions = values.get("conditions")
        return render(request, "admin/rules.html", base_context(
            me, nav="rules", rules=rules, rule=rule, v=values, errors=errors, queues=queues, queue_names={q.id: q.name for q in queues},
            skills=routing_admin.list_skills(session, me.actor), conditions_json=conditions if isinstance(conditions, str) else json.dumps(conditions or [], ensure_ascii=False, indent=1),
            saved=request.query_params.get("saved"),
        ), status_code=status)


@router.get("/admin/rules")
def rules_page(request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    return _rule_page(request, me, None, None, {})


@router.get("/admin/rules/{rule_id}")
def rule_edit_page(rule_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        rule = get_owned(session, RoutingRule, me.actor.tenant_id, rule_id)
    return _rule_page(request, me, rule, None, {})


def _save_rule(request: Request, me: Me, form: dict[str, Any], rule_id: int | None) -> Response:
    _admin(me)
    reader = FormReader(form, me.lang)
    skills = {}
    for key in form:
        if key.startswith("skill:"):
            level = reader.integer(key, 0, 5, 0)
            if level:
                skills[key[len("skill:"):]] = level
    values = {
        "name": reader.text("name", required=True), "position": reader.integer("position", 0, 100000, 0),
        "conditions": reader.json("conditions", list, []), "queue_id": reader.integer("queue_id", 1, 2**62),
        "priority": reader.integer("priority", -100, 100, 0), "required_skills": skills, "active": reader.checked("active"),
    }
    if values["queue_id"] is None and "queue_id" not in reader.errors:
        reader.errors["queue_id"] = translate("ui.error.required", me.lang)
    try:
        reader.done()
        with unit_of_work(runtime(request).sessions) as session:
            rule = routing_admin.create_rule(session, me.actor, values) if rule_id is None else routing_admin.update_rule(session, me.actor, rule_id, values)
            saved_id = rule.id
    except FormErrors as exc:
        errors = exc.errors
    except RaccordoError as exc:  # the role and the edited row were checked before: the rest is the form's
        errors = field_errors(exc, me.lang)
    else:
        return saved_redirect(f"/admin/rules/{saved_id}")
    if "conditions" in errors or "conditions" in form:
        values["conditions"] = str(form.get("conditions") or "")
    current = None
    if rule_id is not None:
        with unit_of_work(runtime(request).sessions) as session:
            current = get_owned(session, RoutingRule, me.actor.tenant_id, rule_id)
    return _rule_page(request, me, current, values, errors, 422)


@router.post("/admin/rules")
def rule_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save_rule(request, me, form, None)


@router.post("/admin/rules/{rule_id}")
def rule_update(rule_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        get_owned(session, RoutingRule, me.actor.tenant_id, rule_id)
    return _save_rule(request, me, form, rule_id)


@router.post("/admin/rules/{rule_id}/delete")
def rule_delete(rule_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        routing_admin.delete_rule(session, me.actor, rule_id)
    return saved_redirect("/admin/rules")


# --- SLA policies ----------------------------------------------------------------------------------


def _sla_page(request: Request, me: Me, policy: SlaPolicy | None, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        policies = sla.list_policies(session, me.actor)
        if policy is not None and values is None:
            policy = get_owned(session, SlaPolicy, me.actor.tenant_id, policy.id)
            values = {name: getattr(policy, name) for name in sla.POLICY_FIELDS}
        values = values or {"position": 0, "conditions": [], "warn_before_seconds": 0, "actions": {}, "active": True}
        conditions = values.get("conditions")
        return render(request, "admin/sla.html", base_context(
            me, nav="sla", policies=policies, policy=policy, v=values, errors=errors, actions=SLA_ACTIONS, days=DAYS, hours=hours_fields(values.get("business_hours")),
            conditions_json=conditions if isinstance(conditions, str) else json.dumps(conditions or [], ensure_ascii=False, indent=1), saved=request.query_params.get("saved"),
        ), status_code=status)


@router.get("/admin/sla")
def sla_page(request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    return _sla_page(request, me, None, None, {})


@router.get("/admin/sla/{policy_id}")
def sla_edit_page(policy_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        policy = get_owned(session, SlaPolicy, me.actor.tenant_id, policy_id)
    return _sla_page(request, me, policy, None, {})


def _save_sla(request: Request, me: Me, form: dict[str, Any], policy_id: int | None) -> Response:
    _admin(me)
    reader = FormReader(form, me.lang)
    values = {
        "name": reader.text("name", required=True), "position": reader.integer("position", 0, 100000, 0), "conditions": reader.json("conditions", list, []),
        "first_response_seconds": reader.integer("first_response_seconds", 1, 90 * 86400), "next_response_seconds": reader.integer("next_response_seconds", 1, 90 * 86400),
        "resolution_seconds": reader.integer("resolution_seconds", 1, 365 * 86400), "warn_before_seconds": reader.integer("warn_before_seconds", 0, 30 * 86400, 0),
        "business_hours": reader.hours(), "actions": {name: True for name in SLA_ACTIONS if reader.checked(f"action:{name}")}, "active": reader.checked("active"),
    }
    try:
        reader.done()
        with unit_of_work(runtime(request).sessions) as session:
            policy = sla.create_policy(session, me.actor, values) if policy_id is None else sla.update_policy(session, me.actor, policy_id, values)
            saved_id = policy.id
    except FormErrors as exc:
        errors = exc.errors
    except RaccordoError as exc:  # the role and the edited row were checked before: the rest is the form's
        errors = field_errors(exc, me.lang)
    else:
        return saved_redirect(f"/admin/sla/{saved_id}")
    if "conditions" in errors:
        values["conditions"] = str(form.get("conditions") or "")
    current = None
    if policy_id is not None:
        with unit_of_work(runtime(request).sessions) as session:
            current = get_owned(session, SlaPolicy, me.actor.tenant_id, policy_id)
    return _sla_page(request, me, current, values, errors, 422)


@router.post("/admin/sla")
def sla_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save_sla(request, me, form, None)


@router.post("/admin/sla/{policy_id}")
def sla_update(policy_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        get_owned(session, SlaPolicy, me.actor.tenant_id, policy_id)
    return _save_sla(request, me, form, policy_id)


@router.post("/admin/sla/{policy_id}/delete")
def sla_delete(policy_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        sla.delete_policy(session, me.actor, policy_id)
    return saved_redirect("/admin/sla")


# --- live queue view -------------------------------------------------------------------------------


def _live_context(request: Request, me: Me) -> dict[str, Any]:
    me.require(Permission.VIEW_LIVE)
    with unit_of_work(runtime(request).sessions) as session:
        data = routing_admin.live(session, me.actor)
        names = {u.id: u.name for u in accounts.list_users(session, me.actor)}
    return base_context(me, nav="live", live=data, names=names)


@router.get("/live")
def live_page(request: Request, me: Me = MeDep) -> Response:
    return render(request, "live.html", _live_context(request, me))


@router.get("/live/pane")
def live_pane(request: Request, me: Me = MeDep) -> Response:
    return render(request, "_live.html", _live_context(request, me))
