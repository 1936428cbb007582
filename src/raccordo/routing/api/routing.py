"""Routing: skills, queues, agents' routing profiles, rules, offers, transfers, the live queue view.
Each handler parses, calls one use case that owns its unit of work (``routing.services.configure``
for the configuration, ``routing.services.conversation_routing`` for one conversation's offers,
transfer, routing events and SLA clocks) and shapes its plain data into the response."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.platform.web.schemas import PathId
from raccordo.record.schemas import ConversationOut
from raccordo.routing import schemas
from raccordo.routing.services import configure, conversation_routing

router = APIRouter(prefix="/api/v1", tags=["routing"])


def _sessions(request: Request) -> Any:
    return runtime(request).sessions


@router.get("/skills", response_model=list[schemas.SkillOut])
def list_skills(request: Request, actor: Actor = ActorDep) -> list[schemas.SkillOut]:
    return [schemas.SkillOut.model_validate(s) for s in configure.list_skills(_sessions(request), actor)]


@router.post("/skills", response_model=schemas.SkillOut, status_code=201)
def create_skill(body: schemas.SkillIn, request: Request, actor: Actor = ActorDep) -> schemas.SkillOut:
    return schemas.SkillOut.model_validate(configure.create_skill(_sessions(request), actor, body.name))


@router.delete("/skills/{skill_id}", status_code=204)
def delete_skill(skill_id: PathId, request: Request, actor: Actor = ActorDep) -> Response:
    configure.delete_skill(_sessions(request), actor, skill_id)
    return Response(status_code=204)


def _queue_out(found: tuple[Any, list[int]]) -> schemas.QueueOut:
    queue, members = found
    out = schemas.QueueOut.model_validate(queue)
    out.member_ids = members
    return out


@router.get("/queues", response_model=list[schemas.QueueOut])
def list_queues(request: Request, actor: Actor = ActorDep) -> list[schemas.QueueOut]:
    return [_queue_out(found) for found in configure.list_queues(_sessions(request), actor)]


@router.post("/queues", response_model=schemas.QueueOut, status_code=201)
def create_queue(body: schemas.QueueIn, request: Request, actor: Actor = ActorDep) -> schemas.QueueOut:
    return _queue_out(configure.create_queue(_sessions(request), actor, body.model_dump()))


@router.get("/queues/{queue_id}", response_model=schemas.QueueOut)
def get_queue(queue_id: PathId, request: Request, actor: Actor = ActorDep) -> schemas.QueueOut:
    return _queue_out(configure.get_queue(_sessions(request), actor, queue_id))


@router.patch("/queues/{queue_id}", response_model=schemas.QueueOut)
def update_queue(
    queue_id: PathId, body: schemas.QueuePatch, request: Request, actor: Actor = ActorDep
) -> schemas.QueueOut:
    return _queue_out(configure.update_queue(_sessions(request), actor, queue_id, body.model_dump(exclude_unset=True)))


@router.put("/queues/{queue_id}/members", response_model=list[int])
def set_queue_members(
    queue_id: PathId, body: schemas.MembersIn, request: Request, actor: Actor = ActorDep
) -> list[int]:
    return configure.set_queue_members(_sessions(request), actor, queue_id, body.user_ids)


@router.delete("/queues/{queue_id}", status_code=204)
def delete_queue(queue_id: PathId, request: Request, actor: Actor = ActorDep) -> Response:
    configure.delete_queue(_sessions(request), actor, queue_id)
    return Response(status_code=204)


@router.get("/users/{user_id}/routing", response_model=schemas.AgentRoutingOut)
def get_agent_routing(user_id: PathId, request: Request, actor: Actor = ActorDep) -> schemas.AgentRoutingOut:
    return schemas.AgentRoutingOut(**vars(configure.agent_profile(_sessions(request), actor, user_id)))


@router.put("/users/{user_id}/routing", response_model=schemas.AgentRoutingOut)
def set_agent_routing(
    user_id: PathId, body: schemas.AgentRoutingIn, request: Request, actor: Actor = ActorDep
) -> schemas.AgentRoutingOut:
    return schemas.AgentRoutingOut(
        **vars(configure.save_agent_profile(_sessions(request), actor, user_id, body.model_dump(exclude_unset=True)))
    )


@router.get("/routing-rules", response_model=list[schemas.RoutingRuleOut])
def list_rules(request: Request, actor: Actor = ActorDep) -> list[schemas.RoutingRuleOut]:
    return [schemas.RoutingRuleOut.model_validate(r) for r in configure.list_rules(_sessions(request), actor)]


@router.post("/routing-rules", response_model=schemas.RoutingRuleOut, status_code=201)
def create_rule(body: schemas.RoutingRuleIn, request: Request, actor: Actor = ActorDep) -> schemas.RoutingRuleOut:
    return schemas.RoutingRuleOut.model_validate(
        configure.save_rule(_sessions(request), actor, None, body.model_dump())
    )


@router.patch("/routing-rules/{rule_id}", response_model=schemas.RoutingRuleOut)
def update_rule(
    rule_id: PathId, body: schemas.RoutingRulePatch, request: Request, actor: Actor = ActorDep
) -> schemas.RoutingRuleOut:
    return schemas.RoutingRuleOut.model_validate(
        configure.save_rule(_sessions(request), actor, rule_id, body.model_dump(exclude_unset=True))
    )


@router.delete("/routing-rules/{rule_id}", status_code=204)
def delete_rule(rule_id: PathId, request: Request, actor: Actor = ActorDep) -> Response:
    configure.delete_rule(_sessions(request), actor, rule_id)
    return Response(status_code=204)


@router.get(
    "/routing/offers", response_model=list[schemas.OfferOut], description="The offers waiting for the caller's answer."
)
def my_offers(request: Request, actor: Actor = ActorDep) -> list[schemas.OfferOut]:
    return [schemas.OfferOut.model_validate(o) for o in conversation_routing.my_offers(_sessions(request), actor)]


@router.post("/conversations/{conversation_id}/offer/accept", response_model=ConversationOut)
def accept_offer(conversation_id: PathId, request: Request, actor: Actor = ActorDep) -> ConversationOut:
    return ConversationOut.model_validate(conversation_routing.accept_offer(_sessions(request), actor, conversation_id))


@router.post("/conversations/{conversation_id}/offer/decline", status_code=204)
def decline_offer(
    conversation_id: PathId, body: schemas.DeclineIn, request: Request, actor: Actor = ActorDep
) -> Response:
    conversation_routing.decline_offer(_sessions(request), actor, conversation_id, body.reason)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/transfer", response_model=ConversationOut)
def transfer(
    conversation_id: PathId, body: schemas.TransferIn, request: Request, actor: Actor = ActorDep
) -> ConversationOut:
    rt = runtime(request)
    conversation = conversation_routing.transfer(
        rt.sessions,
        rt.files,
        actor,
        conversation_id,
        user_id=body.user_id,
        team_id=body.team_id,
        queue_id=body.queue_id,
        note=body.note,
        max_attachment_bytes=rt.settings.max_attachment_bytes,
    )
    return ConversationOut.model_validate(conversation)


@router.get("/conversations/{conversation_id}/routing-events", response_model=list[schemas.RoutingEventOut])
def routing_events(conversation_id: PathId, request: Request, actor: Actor = ActorDep) -> list[schemas.RoutingEventOut]:
    return [
        schemas.RoutingEventOut.model_validate(e)
        for e in conversation_routing.routing_events(_sessions(request), actor, conversation_id)
    ]


@router.get(
    "/routing/live", description="Each queue's waiting and offered conversations, oldest wait, and agents by state."
)
def live(request: Request, actor: Actor = ActorDep) -> dict[str, Any]:
    return configure.live(_sessions(request), actor)


@router.get("/sla-policies", response_model=list[schemas.SlaPolicyOut], tags=["sla"])
def list_sla_policies(request: Request, actor: Actor = ActorDep) -> list[schemas.SlaPolicyOut]:
    return [schemas.SlaPolicyOut.model_validate(p) for p in configure.list_sla_policies(_sessions(request), actor)]


@router.post("/sla-policies", response_model=schemas.SlaPolicyOut, status_code=201, tags=["sla"])
def create_sla_policy(body: schemas.SlaPolicyIn, request: Request, actor: Actor = ActorDep) -> schemas.SlaPolicyOut:
    return schemas.SlaPolicyOut.model_validate(
        configure.save_sla_policy(_sessions(request), actor, None, body.model_dump())
    )


@router.patch("/sla-policies/{policy_id}", response_model=schemas.SlaPolicyOut, tags=["sla"])
def update_sla_policy(
    policy_id: PathId, body: schemas.SlaPolicyPatch, request: Request, actor: Actor = ActorDep
) -> schemas.SlaPolicyOut:
    return schemas.SlaPolicyOut.model_validate(
        configure.save_sla_policy(_sessions(request), actor, policy_id, body.model_dump(exclude_unset=True))
    )


@router.delete("/sla-policies/{policy_id}", status_code=204, tags=["sla"])
def delete_sla_policy(policy_id: PathId, request: Request, actor: Actor = ActorDep) -> Response:
    configure.delete_sla_policy(_sessions(request), actor, policy_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/sla", response_model=list[schemas.SlaClockOut], tags=["sla"])
def conversation_sla(conversation_id: PathId, request: Request, actor: Actor = ActorDep) -> list[schemas.SlaClockOut]:
    return [
        schemas.SlaClockOut.model_validate(c)
        for c in conversation_routing.sla_clocks(_sessions(request), actor, conversation_id)
    ]
