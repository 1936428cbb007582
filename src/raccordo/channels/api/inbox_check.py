"""Checking an inbox's connection settings against the provider, saying precisely what failed."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.channels.services import inbox_admin
from raccordo.platform.i18n import translate
from raccordo.platform.web import schemas
from raccordo.platform.web.errors import problem, request_language

router = APIRouter(prefix="/api/v1", tags=["inboxes"])


class CheckIn(BaseModel):
    model_config = schemas.Strict
    channel: str | None = Field(default=None, max_length=32, description="For settings not saved yet: the channel.")
    settings: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None


class CheckStep(BaseModel):
    step: str
    ok: bool
    field: str | None = None
    message: str | None = None


class CheckOut(BaseModel):
    ok: bool
    checks: list[CheckStep]


async def _run(request: Request, actor: Actor, inbox_id: int | None, body: CheckIn) -> JSONResponse:
    rt = runtime(request)

    channel, config = await run_in_threadpool(
        lambda: inbox_admin.check_config(
            rt.sessions,
            rt.secretbox,
            actor,
            inbox_id=inbox_id,
            channel=body.channel,
            settings=body.settings,
            secrets_=body.secrets,
        )
    )
    results = await run_in_threadpool(channel.check, config)
    language = request_language(request)
    steps = [
        CheckStep(
            step=r.step, ok=r.ok, field=r.setting, message=translate(r.key, language, **r.params) if r.key else None
        )
        for r in results
    ]
    failed = [s for s in steps if not s.ok]
    if not failed:
        return JSONResponse(CheckOut(ok=True, checks=steps).model_dump())
    detail = translate("email.check.failed", language, problems=" ".join(s.message or s.step for s in failed))
    response = problem(
        request,
        422,
        detail,
        errors=[{"field": s.field or "settings", "message": s.message, "step": s.step} for s in failed],
    )
    payload = json.loads(bytes(response.body))
    payload["checks"] = [s.model_dump() for s in steps]
    return JSONResponse(payload, status_code=422, media_type=response.media_type)


@router.post(
    "/inboxes/check",
    response_model=CheckOut,
    responses={422: {"description": "What failed, step by step (problem+json with `errors` and `checks`)."}},
)
async def check_new(body: CheckIn, request: Request, actor: Actor = ActorDep) -> JSONResponse:
    """Try connection settings before saving them (e.g. IMAP and SMTP: DNS, TLS, login, folder)."""
    return await _run(request, actor, None, body)


@router.post(
    "/inboxes/{inbox_id}/check",
    response_model=CheckOut,
    responses={422: {"description": "What failed, step by step (problem+json with `errors` and `checks`)."}},
)
async def check_saved(
    inbox_id: schemas.PathId, request: Request, actor: Actor = ActorDep, body: CheckIn | None = None
) -> JSONResponse:
    """Try a saved inbox's connection, optionally with changed settings or secrets (not saved)."""
    return await _run(request, actor, inbox_id, body or CheckIn())
