"""Routing admin pages (skills, queues, agents' routing profiles, rules, SLA policies) and the
supervisors' live queue view. Each admin page is an ``AdminResource`` (platform/web/admin.py):
this module only reads the form and names the use cases of ``routing.services.configure``; the
services check every value, and their errors (``InvalidInput.field``) are shown, translated, next
to the field they name. A value the page cannot even parse (a number, JSON) gets its own message
here, before the service is called."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.channels.base import channel_kinds
from raccordo.platform.hours import DAYS
from raccordo.platform.i18n import translate
from raccordo.platform.web.admin import AdminResource, Values
from raccordo.platform.web.forms import FormReader, hours_fields
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import register_templates, render
from raccordo.routing.domain.vocabularies import OutOfHoursAction, RoutingStrategy, SlaAction
from raccordo.routing.services import configure

register_templates(Path(__file__).resolve().parents[1] / "templates")
router = APIRouter(route_class=PageRoute, include_in_schema=False)

# The choices the forms offer, in the order shown (the vocabularies are routing/domain/vocabularies.py).
STRATEGIES = tuple(RoutingStrategy)
OUT_OF_HOURS = tuple(OutOfHoursAction)
SLA_ACTIONS = tuple(SlaAction)


def _admin(me: Me) -> None:
    me.require(Permission.MANAGE_ROUTING)


def _sessions(request: Request) -> Any:
    return runtime(request).sessions


def _conditions_json(values: Values) -> str:
    conditions = values.get("conditions")
    return conditions if isinstance(conditions, str) else json.dumps(conditions or [], ensure_ascii=False, indent=1)


def _keep_typed_conditions(values: Values, errors: dict[str, str], form: Values) -> None:
    """Invalid conditions come back as typed, not as the last valid JSON."""
    if "conditions" in errors or "conditions" in form:
        values["conditions"] = str(form.get("conditions") or "")


def _skill_levels(reader: FormReader) -> dict[str, int]:
    levels = {}
    for key in reader.form:
        if key.startswith("skill:"):
            level = reader.integer(key, 0, 5, 0)
            if level:
                levels[key[len("skill:") :]] = level
    return levels


# --- skills ----------------------------------------------------------------------------------------

skills = AdminResource(
    path="/admin/skills",
    kind="skills",
    template="admin/skills.html",
    nav="skills",
    guard=_admin,
    page=lambda request, me, _: configure.skills_view(_sessions(request), me.actor),
    read=lambda reader: {"name": str(reader.form.get("name") or "")},
    create=lambda request, me, values: configure.create_skill(_sessions(request), me.actor, values["name"]).id,
    delete=lambda request, me, skill_id: configure.delete_skill(_sessions(request), me.actor, skill_id),
    defaults={"name": ""},
    after_save=lambda _: "/admin/skills",
)


# --- queues ----------------------------------------------------------------------------------------


def _queue_values(reader: FormReader) -> Values:
    values = {
        "name": reader.text("name", required=True),
        "strategy": reader.text("strategy") or RoutingStrategy.LONGEST_IDLE,
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
        "out_of_hours_action": reader.text("out_of_hours_action") or OutOfHoursAction.KEEP,
        "out_of_hours_message": reader.text("out_of_hours_message"),
        "requires_wrap_up": reader.checked("requires_wrap_up"),
        "active": reader.checked("active"),
        "members": reader.ids("members"),
    }
    if values["strategy"] not in STRATEGIES:
        reader.errors["strategy"] = translate("ui.error.choice", reader.lang)
    return values


def _save_queue(request: Request, me: Me, queue_id: int | None, values: Values) -> int:
    fields = {k: v for k, v in values.items() if k != "members"}
    return configure.save_queue(_sessions(request), me.actor, queue_id, fields, values.get("members") or [])


queues = AdminResource(
    path="/admin/queues",
    kind="queues",
    template="admin/queues.html",
    nav="queues",
    guard=_admin,
    row_name="queue",
    page=lambda request, me, queue_id: configure.queues_view(_sessions(request), me.actor, queue_id),
    read=_queue_values,
    create=lambda request, me, values: _save_queue(request, me, None, values),
    update=_save_queue,
    delete=lambda request, me, queue_id: configure.delete_queue(_sessions(request), me.actor, queue_id),
    defaults={
        "strategy": RoutingStrategy.LONGEST_IDLE,
        "active": True,
        "decline_cooldown_seconds": 300,
        "preferred_agent_hours": 72,
        "relax": [],
        "out_of_hours_action": OutOfHoursAction.KEEP,
    },
    view=lambda v: {
        "members": v.get("members") or [],
        "strategies": STRATEGIES,
        "out_of_hours": OUT_OF_HOURS,
        "days": DAYS,
        "hours": hours_fields(v.get("business_hours")),
        "relax_json": json.dumps(v.get("relax") or []),
    },
)


# --- agents ----------------------------------------------------------------------------------------


def _agent_values(reader: FormReader) -> Values:
    capacity = {}
    for channel in channel_kinds():
        value = reader.integer(f"capacity:{channel}", 0, 100)
        if value is not None:
            capacity[channel] = value
    if any(k.startswith("capacity:") for k in reader.errors):
        reader.errors["capacity"] = next(v for k, v in reader.errors.items() if k.startswith("capacity:"))
    exclusive = [c for c in channel_kinds() if reader.checked(f"exclusive:{c}")]
    return {
        "skills": _skill_levels(reader),
        "capacity": capacity,
        "exclusive": exclusive,
        "queue_ids": reader.ids("queue_ids"),
    }


def _agents_page(request: Request, me: Me, user_id: int | None) -> Values:
    if user_id is None:
        return configure.agents_view(_sessions(request), me.actor)
    return configure.agent_view(_sessions(request), me.actor, user_id) | {"channels": channel_kinds()}


agents = AdminResource(
    path="/admin/agents",
    kind="users",
    template="admin/agents.html",
    edit_template="admin/agent.html",
    nav="agents",
    guard=_admin,
    row_name="agent",
    page=_agents_page,
    read=_agent_values,
    update=lambda request, me, user_id, values: configure.save_agent_profile(
        _sessions(request), me.actor, user_id, values
    ).user_id,
)


# --- routing rules ---------------------------------------------------------------------------------


def _rule_values(reader: FormReader) -> Values:
    values = {
        "name": reader.text("name", required=True),
        "position": reader.integer("position", 0, 100000, 0),
        "conditions": reader.json("conditions", list, []),
        "queue_id": reader.integer("queue_id", 1, 2**62),
        "priority": reader.integer("priority", -100, 100, 0),
        "required_skills": _skill_levels(reader),
        "active": reader.checked("active"),
    }
    if values["queue_id"] is None and "queue_id" not in reader.errors:
        reader.errors["queue_id"] = translate("ui.error.required", reader.lang)
    return values


rules = AdminResource(
    path="/admin/rules",
    kind="routing_rules",
    template="admin/rules.html",
    nav="rules",
    guard=_admin,
    row_name="rule",
    page=lambda request, me, rule_id: configure.rules_view(_sessions(request), me.actor, rule_id),
    read=_rule_values,
    create=lambda request, me, values: configure.save_rule(_sessions(request), me.actor, None, values).id,
    update=lambda request, me, rule_id, values: configure.save_rule(_sessions(request), me.actor, rule_id, values).id,
    delete=lambda request, me, rule_id: configure.delete_rule(_sessions(request), me.actor, rule_id),
    defaults={"position": 0, "priority": 0, "conditions": [], "required_skills": {}, "active": True},
    view=lambda v: {"conditions_json": _conditions_json(v)},
    keep_typed=_keep_typed_conditions,
)


# --- SLA policies ----------------------------------------------------------------------------------


def _sla_values(reader: FormReader) -> Values:
    return {
        "name": reader.text("name", required=True),
        "position": reader.integer("position", 0, 100000, 0),
        "conditions": reader.json("conditions", list, []),
        "first_response_seconds": reader.integer("first_response_seconds", 1, 90 * 86400),
        "next_response_seconds": reader.integer("next_response_seconds", 1, 90 * 86400),
        "resolution_seconds": reader.integer("resolution_seconds", 1, 365 * 86400),
        "warn_before_seconds": reader.integer("warn_before_seconds", 0, 30 * 86400, 0),
        "business_hours": reader.hours(),
        "actions": {str(name): True for name in SLA_ACTIONS if reader.checked(f"action:{name}")},
        "active": reader.checked("active"),
    }


def _keep_typed_sla_conditions(values: Values, errors: dict[str, str], form: Values) -> None:
    if "conditions" in errors:
        values["conditions"] = str(form.get("conditions") or "")


sla_policies = AdminResource(
    path="/admin/sla",
    kind="sla_policies",
    template="admin/sla.html",
    nav="sla",
    guard=_admin,
    row_name="policy",
    page=lambda request, me, policy_id: configure.sla_view(_sessions(request), me.actor, policy_id),
    read=_sla_values,
    create=lambda request, me, values: configure.save_sla_policy(_sessions(request), me.actor, None, values).id,
    update=lambda request, me, policy_id, values: configure.save_sla_policy(
        _sessions(request), me.actor, policy_id, values
    ).id,
    delete=lambda request, me, policy_id: configure.delete_sla_policy(_sessions(request), me.actor, policy_id),
    defaults={"position": 0, "conditions": [], "warn_before_seconds": 0, "actions": {}, "active": True},
    view=lambda v: {
        "actions": SLA_ACTIONS,
        "days": DAYS,
        "hours": hours_fields(v.get("business_hours")),
        "conditions_json": _conditions_json(v),
    },
    keep_typed=_keep_typed_sla_conditions,
)

for resource in (skills, queues, agents, rules, sla_policies):
    resource.mount(router, MeDep)


# --- live queue view -------------------------------------------------------------------------------


def _live_context(request: Request, me: Me) -> dict[str, Any]:
    me.require(Permission.VIEW_LIVE)
    return base_context(me, nav="live", **configure.live_view(_sessions(request), me.actor))


@router.get("/live")
def live_page(request: Request, me: Me = MeDep) -> Response:
    return render(request, "live.html", _live_context(request, me))


@router.get("/live/pane")
def live_pane(request: Request, me: Me = MeDep) -> Response:
    return render(request, "_live.html", _live_context(request, me))
