"""Routing: skills, queues, agents' routing profiles, rules, offers, transfers, the live queue view."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from raccordo.accounts.api.deps import ActorDep, runtime, transaction
from raccordo.accounts.domain.actor import Actor
from raccordo.platform.web import schemas
from raccordo.record.services import conversations
from raccordo.routing.services import admin as routing_admin
from raccordo.routing.services import routing, sla

router = APIRouter(prefix="/api/v1", tags=["routing"])


@router.get("/skills", response_model=list[schemas.SkillOut])
def list_skills(request: Request, actor: Actor = ActorDep) -> list[schemas.SkillOut]:
    with transaction(request) as session:
        return [schemas.SkillOut.model_validate(s) for s in routing_admin.list_skills(session, actor)]


@router.post("/skills", response_model=schemas.SkillOut, status_code=201)
def create_skill(body: schemas.SkillIn, request: Request, actor: Actor = ActorDep) -> schemas.SkillOut:
    with transaction(request) as session:
        return schemas.SkillOut.model_validate(routing_admin.create_skill(session, actor, body.name))


@router.delete("/skills/{skill_id}", status_code=204)
def delete_skill(skill_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> Response:
    with transaction(request) as session:
        routing_admin.delete_skill(session, actor, skill_id)
    return Response(status_code=204)


def _queue_out(session: Any, queue: Any, members: list[int] | None = None) -> schemas.QueueOut:
    out = schemas.QueueOut.model_validate(queue)
    out.member_ids = members if members is not None else routing_admin.queue_members(session, queue.tenant_id, queue.id)
    return out


@router.get("/queues", response_model=list[schemas.QueueOut])
def list_queues(request: Request, actor: Actor = ActorDep) -> list[schemas.QueueOut]:
    with transaction(request) as session:
        members = routing_admin.members_by_queue(session, actor.tenant_id)  # one query, not one per queue
        return [_queue_out(session, q, members.get(q.id, [])) for q in routing_admin.list_queues(session, actor)]


@router.post("/queues", response_model=schemas.QueueOut, status_code=201)
def create_queue(body: schemas.QueueIn, request: Request, actor: Actor = ActorDep) -> schemas.QueueOut:
    with transaction(request) as session:
        return _queue_out(session, routing_admin.create_queue(session, actor, body.model_dump()))


@router.get("/queues/{queue_id}", response_model=schemas.QueueOut)
def get_queue(queue_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> schemas.QueueOut:
    with transaction(request) as session:
        return _queue_out(session, routing_admin.get_queue(session, actor, queue_id))


@router.patch("/queues/{queue_id}", response_model=schemas.QueueOut)
def update_queue(queue_id: schemas.PathId, body: schemas.QueuePatch, request: Request, actor: Actor = ActorDep) -> schemas.QueueOut:
    with transaction(request) as session:
        out = _queue_out(session, routing_admin.update_queue(session, actor, queue_id, body.model_dump(exclude_unset=True)))
    return out


@router.put("/queues/{queue_id}/members", response_model=list[int])
def set_queue_members(queue_id: schemas.PathId, body: schemas.MembersIn, request: Request, actor: Actor = ActorDep) -> list[int]:
    with transaction(request) as session:
        members = routing_admin.set_queue_members(session, actor, queue_id, body.user_ids)
    return members


@router.delete("/queues/{queue_id}", status_code=204)
def delete_queue(queue_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> Response:
    with transaction(request) as session:
        routing_admin.delete_queue(session, actor, queue_id)
    return Response(status_code=204)


@router.get("/users/{user_id}/routing", response_model=schemas.AgentRoutingOut)
def get_agent_routing(user_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> schemas.AgentRoutingOut:
    with transaction(request) as session:
        return schemas.AgentRoutingOut(**vars(routing_admin.agent_profile(session, actor, user_id)))


@router.put("/users/{user_id}/routing", response_model=schemas.AgentRoutingOut)
def set_agent_routing(user_id: schemas.PathId, body: schemas.AgentRoutingIn, request: Request, actor: Actor = ActorDep) -> schemas.AgentRoutingOut:
    with transaction(request) as session:
        out = schemas.AgentRoutingOut(**vars(routing_admin.set_agent_profile(session, actor, user_id, **body.model_dump(exclude_unset=True))))
    return out


@router.get("/routing-rules", response_model=list[schemas.RoutingRuleOut])
def list_rules(request: Request, actor: Actor = ActorDep) -> list[schemas.RoutingRuleOut]:
    with transaction(request) as session:
        return [schemas.RoutingRuleOut.model_validate(r) for r in routing_admin.list_rules(session, actor)]


@router.post("/routing-rules", response_model=schemas.RoutingRuleOut, status_code=201)
def create_rule(body: schemas.RoutingRuleIn, request: Request, actor: Actor = ActorDep) -> schemas.RoutingRuleOut:
    with transaction(request) as session:
        return schemas.RoutingRuleOut.model_validate(routing_admin.create_rule(session, actor, body.model_dump()))


@router.patch("/routing-rules/{rule_id}", response_model=schemas.RoutingRuleOut)
def update_rule(rule_id: schemas.PathId, body: schemas.RoutingRulePatch, request: Request, actor: Actor = ActorDep) -> schemas.RoutingRuleOut:
    with transaction(request) as session:
        return schemas.RoutingRuleOut.model_validate(routing_admin.update_rule(session, actor, rule_id, body.model_dump(exclude_unset=True)))


@router.delete("/routing-rules/{rule_id}", status_code=204)
def delete_rule(rule_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> Response:
    with transaction(request) as session:
        routing_admin.delete_rule(session, actor, rule_id)
    return Response(status_code=204)


@router.get("/routing/offers", response_model=list[schemas.OfferOut], description="The offers waiting for the caller's answer.")
def my_offers(request: Request, actor: Actor = ActorDep) -> list[schemas.OfferOut]:
    with transaction(request) as session:
        return [schemas.OfferOut.model_validate(o) for o in routing.my_offers(session, actor)]


@router.post("/conversations/{conversation_id}/offer/accept", response_model=schemas.ConversationOut)
def accept_offer(conversation_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> schemas.ConversationOut:
    with transaction(request) as session:
        return schemas.ConversationOut.model_validate(routing.accept_offer(session, actor, conversation_id))


@router.post("/conversations/{conversation_id}/offer/decline", status_code=204)
def decline_offer(conversation_id: schemas.PathId, body: schemas.DeclineIn, request: Request, actor: Actor = ActorDep) -> Response:
    with transaction(request) as session:
        routing.decline_offer(session, actor, conversation_id, body.reason)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/transfer", response_model=schemas.ConversationOut)
def transfer(conversation_id: schemas.PathId, body: schemas.TransferIn, request: Request, actor: Actor = ActorDep) -> schemas.ConversationOut:
    rt = runtime(request)
    with transaction(request) as session:
        conversations.require_can_act(session, actor, conversation_id)
        conversation = routing.transfer(
            session, actor, conversation_id, user_id=body.user_id, team_id=body.team_id, queue_id=body.queue_id, note=body.note,
            files=rt.files, max_attachment_bytes=rt.settings.max_attachment_bytes,
        )
        out = schemas.ConversationOut.model_validate(conversation)
    return out


@router.get("/conversations/{conversation_id}/routing-events", response_model=list[schemas.RoutingEventOut])
def routing_events(conversation_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> list[schemas.RoutingEventOut]:
    with transaction(request) as session:
        return [schemas.RoutingEventOut.model_validate(e) for e in routing_admin.conversation_routing_events(session, actor, conversation_id)]


@router.get("/routing/live", description="Each queue's waiting and offered conversations, oldest wait, and agents by state.")
def live(request: Request, actor: Actor = ActorDep) -> dict:  # type: ignore[type-arg]
    with transaction(request) as session:
        return routing_admin.live(session, actor)


@router.get("/sla-policies", response_model=list[schemas.SlaPolicyOut], tags=["sla"])
def list_sla_policies(request: Request, actor: Actor = ActorDep) -> list[schemas.SlaPolicyOut]:
    with transaction(request) as session:
        return [schemas.SlaPolicyOut.model_validate(p) for p in sla.list_policies(session, actor)]


@router.post("/sla-policies", response_model=schemas.SlaPolicyOut, status_code=201, tags=["sla"])
def create_sla_policy(body: schemas.SlaPolicyIn, request: Request, actor: Actor = ActorDep) -> schemas.SlaPolicyOut:
    with transaction(request) as session:
        return schemas.SlaPolicyOut.model_validate(sla.create_policy(session, actor, body.model_dump()))


@router.patch("/sla-policies/{policy_id}", response_model=schemas.SlaPolicyOut, tags=["sla"])
def update_sla_policy(policy_id: schemas.PathId, body: schemas.SlaPolicyPatch, request: Request, actor: Actor = ActorDep) -> schemas.SlaPolicyOut:
    with transaction(request) as session:
        return schemas.SlaPolicyOut.model_validate(sla.update_policy(session, actor, policy_id, body.model_dump(exclude_unset=True)))


@router.delete("/sla-policies/{policy_id}", status_code=204, tags=["sla"])
def delete_sla_policy(policy_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> Response:
    with transaction(request) as session:
        sla.delete_policy(session, actor, policy_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/sla", response_model=list[schemas.SlaClockOut], tags=["sla"])
def conversation_sla(conversation_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> list[schemas.SlaClockOut]:
    with transaction(request) as session:
        return [schemas.SlaClockOut.model_validate(c) for c in sla.conversation_clocks(session, actor, conversation_id)]
