"""Answer templates (admins manage them; agents list them and get them rendered for a conversation) and wrap-up codes.
Each handler calls one use case of ``desk.services.content``, which owns its unit of work."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.desk import schemas
from raccordo.desk.services import content
from raccordo.platform.web.schemas import PathId

router = APIRouter(prefix="/api/v1", tags=["templates"])


@router.get("/templates", response_model=list[schemas.TemplateOut])
def list_templates(request: Request, actor: Actor = ActorDep) -> list[schemas.TemplateOut]:
    return [schemas.TemplateOut.model_validate(t) for t in content.list_templates(runtime(request).sessions, actor)]


@router.post("/templates", response_model=schemas.TemplateOut, status_code=201)
def create_template(body: schemas.TemplateIn, request: Request, actor: Actor = ActorDep) -> schemas.TemplateOut:
    return schemas.TemplateOut.model_validate(
        content.create_template(runtime(request).sessions, actor, body.model_dump())
    )


@router.get("/templates/{template_id}", response_model=schemas.TemplateOut)
def get_template(template_id: PathId, request: Request, actor: Actor = ActorDep) -> schemas.TemplateOut:
    return schemas.TemplateOut.model_validate(content.get_template(runtime(request).sessions, actor, template_id))


@router.patch("/templates/{template_id}", response_model=schemas.TemplateOut)
def update_template(
    template_id: PathId, body: schemas.TemplatePatch, request: Request, actor: Actor = ActorDep
) -> schemas.TemplateOut:
    return schemas.TemplateOut.model_validate(
        content.update_template(runtime(request).sessions, actor, template_id, body.model_dump(exclude_unset=True))
    )


@router.delete("/templates/{template_id}", status_code=204)
def delete_template(template_id: PathId, request: Request, actor: Actor = ActorDep) -> Response:
    content.delete_template(runtime(request).sessions, actor, template_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/templates", response_model=list[schemas.RenderedTemplateOut])
def rendered_templates(
    conversation_id: PathId,
    request: Request,
    actor: Actor = ActorDep,
    language: str | None = Query(None, pattern="^(it|en)$"),
    inbox_id: int | None = Query(
        None,
        ge=1,
        description=(
            "The inbox the agent answers on (its channel picks the version); the conversation's last by default."
        ),
    ),
) -> list[schemas.RenderedTemplateOut]:
    """Every active template rendered for this conversation (the contact's language unless ``language`` is given)."""
    rendered = content.rendered_templates(runtime(request).sessions, actor, conversation_id, language, inbox_id)
    return [schemas.RenderedTemplateOut.model_validate(r) for r in rendered]


# --- wrap-up codes -----------------------------------------------------------------------------------


@router.get("/wrap-up-codes", response_model=list[schemas.WrapUpCodeOut], tags=["wrap-up codes"])
def list_wrap_up_codes(request: Request, actor: Actor = ActorDep) -> list[schemas.WrapUpCodeOut]:
    return [schemas.WrapUpCodeOut.model_validate(c) for c in content.list_codes(runtime(request).sessions, actor)]


@router.post("/wrap-up-codes", response_model=schemas.WrapUpCodeOut, status_code=201, tags=["wrap-up codes"])
def create_wrap_up_code(body: schemas.WrapUpCodeIn, request: Request, actor: Actor = ActorDep) -> schemas.WrapUpCodeOut:
    return schemas.WrapUpCodeOut.model_validate(
        content.create_code(runtime(request).sessions, actor, body.model_dump())
    )


@router.patch("/wrap-up-codes/{code_id}", response_model=schemas.WrapUpCodeOut, tags=["wrap-up codes"])
def update_wrap_up_code(
    code_id: PathId, body: schemas.WrapUpCodePatch, request: Request, actor: Actor = ActorDep
) -> schemas.WrapUpCodeOut:
    return schemas.WrapUpCodeOut.model_validate(
        content.update_code(runtime(request).sessions, actor, code_id, body.model_dump(exclude_unset=True))
    )


@router.delete("/wrap-up-codes/{code_id}", status_code=204, tags=["wrap-up codes"])
def delete_wrap_up_code(code_id: PathId, request: Request, actor: Actor = ActorDep) -> Response:
    content.delete_code(runtime(request).sessions, actor, code_id)
    return Response(status_code=204)
