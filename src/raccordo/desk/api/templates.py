"""Answer templates (admins manage them; agents list them and get them rendered for a conversation) and wrap-up codes."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from raccordo.accounts.api.deps import ActorDep, transaction
from raccordo.accounts.domain.actor import Actor
from raccordo.desk.services import templates, wrapup
from raccordo.platform.web import schemas

router = APIRouter(prefix="/api/v1", tags=["templates"])


@router.get("/templates", response_model=list[schemas.TemplateOut])
def list_templates(request: Request, actor: Actor = ActorDep) -> list[schemas.TemplateOut]:
    with transaction(request) as session:
        return [schemas.TemplateOut.model_validate(t) for t in templates.list_templates(session, actor)]


@router.post("/templates", response_model=schemas.TemplateOut, status_code=201)
def create_template(body: schemas.TemplateIn, request: Request, actor: Actor = ActorDep) -> schemas.TemplateOut:
    with transaction(request) as session:
        return schemas.TemplateOut.model_validate(templates.create_template(session, actor, body.model_dump()))


@router.get("/templates/{template_id}", response_model=schemas.TemplateOut)
def get_template(template_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> schemas.TemplateOut:
    with transaction(request) as session:
        return schemas.TemplateOut.model_validate(templates.get_template(session, actor, template_id))


@router.patch("/templates/{template_id}", response_model=schemas.TemplateOut)
def update_template(template_id: schemas.PathId, body: schemas.TemplatePatch, request: Request, actor: Actor = ActorDep) -> schemas.TemplateOut:
    with transaction(request) as session:
        return schemas.TemplateOut.model_validate(templates.update_template(session, actor, template_id, body.model_dump(exclude_unset=True)))


@router.delete("/templates/{template_id}", status_code=204)
def delete_template(template_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> Response:
    with transaction(request) as session:
        templates.delete_template(session, actor, template_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/templates", response_model=list[schemas.RenderedTemplateOut])
def rendered_templates(
    conversation_id: schemas.PathId, request: Request, actor: Actor = ActorDep, language: str | None = Query(None, pattern="^(it|en)$"),
    inbox_id: int | None = Query(None, ge=1, description="The inbox the agent answers on (its channel picks the version); the conversation's last by default."),
) -> list[schemas.RenderedTemplateOut]:
    """Every active template rendered for this conversation (the contact's language unless ``language`` is given)."""
    with transaction(request) as session:
        return [schemas.RenderedTemplateOut.model_validate(r) for r in templates.render_for_conversation(session, actor, conversation_id, language, inbox_id)]


# --- wrap-up codes -----------------------------------------------------------------------------------


@router.get("/wrap-up-codes", response_model=list[schemas.WrapUpCodeOut], tags=["wrap-up codes"])
def list_wrap_up_codes(request: Request, actor: Actor = ActorDep) -> list[schemas.WrapUpCodeOut]:
    with transaction(request) as session:
        return [schemas.WrapUpCodeOut.model_validate(c) for c in wrapup.list_codes(session, actor)]


@router.post("/wrap-up-codes", response_model=schemas.WrapUpCodeOut, status_code=201, tags=["wrap-up codes"])
def create_wrap_up_code(body: schemas.WrapUpCodeIn, request: Request, actor: Actor = ActorDep) -> schemas.WrapUpCodeOut:
    with transaction(request) as session:
        return schemas.WrapUpCodeOut.model_validate(wrapup.create_code(session, actor, body.model_dump()))


@router.patch("/wrap-up-codes/{code_id}", response_model=schemas.WrapUpCodeOut, tags=["wrap-up codes"])
def update_wrap_up_code(code_id: schemas.PathId, body: schemas.WrapUpCodePatch, request: Request, actor: Actor = ActorDep) -> schemas.WrapUpCodeOut:
    with transaction(request) as session:
        return schemas.WrapUpCodeOut.model_validate(wrapup.update_code(session, actor, code_id, body.model_dump(exclude_unset=True)))


@router.delete("/wrap-up-codes/{code_id}", status_code=204, tags=["wrap-up codes"])
def delete_wrap_up_code(code_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> Response:
    with transaction(request) as session:
        wrapup.delete_code(session, actor, code_id)
    return Response(status_code=204)
