"""Guided scripts: admins design them (``/scripts``), agents run them on a conversation
(``/conversations/{id}/script-runs``, ``/script-runs/{id}/answer|back|abandon``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.desk.services import script_use_cases as scripts
from raccordo.platform.web.schemas import Id, PathId

router = APIRouter(prefix="/api/v1", tags=["scripts"])
Strict = ConfigDict(extra="forbid")


class ScriptStep(BaseModel):
    model_config = Strict
    id: str = Field(max_length=40, description="Lowercase letters, digits, - and _; unique in the script.")
    title: str = Field(default="", max_length=100)
    prompt: str = Field(
        max_length=4000,
        description="What the agent says or does; answer-template variables and {{answer.<step id>}} are filled in.",
    )
    answer: Literal["text", "number", "yes_no", "choice", "date"] | None = Field(
        default=None, description="The question's answer type; none for a step without a question."
    )
    options: list[str] = Field(default_factory=list, max_length=20, description="For choice: the options.")
    target: str | None = Field(
        default=None,
        max_length=100,
        description="conversation.<key> or contact.<key>: the custom attribute that receives the answer.",
    )
    branches: dict[str, str] = Field(default_factory=dict, description="Answer (yes/no, or an option) → next step id.")
    next: str | None = Field(default=None, max_length=40, description="The default next step; none ends the script.")


class ScriptIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    active: bool = True
    channels: list[str] = Field(
        default_factory=list, max_length=20, description="Channels it applies to; empty: every channel."
    )
    queue_ids: list[Id] = Field(
        default_factory=list, max_length=100, description="Queues it applies to; empty: every queue."
    )
    steps: list[ScriptStep] = Field(
        max_length=100, description="The design; the first step starts the script. No cycles; every step reachable."
    )


class ScriptPatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    active: bool | None = None
    channels: list[str] | None = Field(default=None, max_length=20)
    queue_ids: list[Id] | None = Field(default=None, max_length=100)
    steps: list[ScriptStep] | None = Field(
        default=None,
        max_length=100,
        description="A design different from the latest one becomes a new version, live at once.",
    )


class ScriptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # a script's columns, and the steps of its latest version
    id: int
    name: str
    description: str
    active: bool
    channels: list[str]
    queue_ids: list[int]
    version: int
    steps: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class ScriptVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    number: int
    steps: list[dict[str, Any]]
    created_by: int | None
    created_at: datetime


class RunStart(BaseModel):
    model_config = Strict
    script_id: Id


class RunAnswer(BaseModel):
    model_config = Strict
    step_id: str | None = Field(
        default=None, max_length=40, description="The step answered; a run that moved on answers 409."
    )
    value: str | float | bool | None = Field(
        default=None, description="The answer (ignored on a step without a question)."
    )


class RunStepOut(BaseModel):
    id: str
    title: str
    prompt: str = Field(description="With the variables filled in.")
    answer: str | None
    options: list[str]
    target: str | None


class RunOut(BaseModel):
    id: int
    script_id: int
    script_name: str
    conversation_id: int
    agent_id: int | None
    version: int = Field(
        description="The version the run follows now (a newer one once its current step exists there)."
    )
    status: str
    current_step: RunStepOut | None
    answers: list[dict[str, Any]]
    started_at: datetime
    finished_at: datetime | None


def _run_out(shown: scripts.RunShown) -> RunOut:
    run, step = shown.run, shown.step
    return RunOut(
        id=run.id,
        script_id=run.script_id,
        script_name=shown.script_name,
        conversation_id=run.conversation_id,
        agent_id=run.agent_id,
        version=shown.version,
        status=run.status,
        answers=list(run.answers or []),
        started_at=run.started_at,
        finished_at=run.finished_at,
        current_step=RunStepOut(
            id=step.id,
            title=step.title,
            prompt=shown.prompt,
            answer=step.answer.value if step.answer else None,
            options=list(step.options),
            target=step.target,
        )
        if step
        else None,
    )


def _values(body: BaseModel, *, unset: bool) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=unset)
    if values.get("steps") is not None:
        values["steps"] = [dict(step) for step in values["steps"]]
    return values


@router.get("/scripts", response_model=list[ScriptOut])
def list_scripts(request: Request, actor: Actor = ActorDep) -> list[ScriptOut]:
    return [ScriptOut.model_validate(s) for s in scripts.list_scripts(runtime(request).sessions, actor)]


@router.post("/scripts", response_model=ScriptOut, status_code=201)
def create_script(body: ScriptIn, request: Request, actor: Actor = ActorDep) -> ScriptOut:
    return ScriptOut.model_validate(scripts.create_script(runtime(request).sessions, actor, _values(body, unset=False)))


@router.get("/scripts/{script_id}", response_model=ScriptOut)
def get_script(script_id: PathId, request: Request, actor: Actor = ActorDep) -> ScriptOut:
    return ScriptOut.model_validate(scripts.get_script(runtime(request).sessions, actor, script_id))


@router.patch("/scripts/{script_id}", response_model=ScriptOut)
def update_script(script_id: PathId, body: ScriptPatch, request: Request, actor: Actor = ActorDep) -> ScriptOut:
    values = _values(body, unset=True)
    return ScriptOut.model_validate(scripts.update_script(runtime(request).sessions, actor, script_id, values))


@router.delete("/scripts/{script_id}", status_code=204)
def delete_script(script_id: PathId, request: Request, actor: Actor = ActorDep) -> Response:
    scripts.delete_script(runtime(request).sessions, actor, script_id)
    return Response(status_code=204)


@router.get("/scripts/{script_id}/versions", response_model=list[ScriptVersionOut])
def list_versions(script_id: PathId, request: Request, actor: Actor = ActorDep) -> list[ScriptVersionOut]:
    """Every saved design, newest first; versions never change."""
    return [
        ScriptVersionOut.model_validate(v) for v in scripts.list_versions(runtime(request).sessions, actor, script_id)
    ]


@router.get("/conversations/{conversation_id}/scripts", response_model=list[ScriptOut])
def applicable_scripts(conversation_id: PathId, request: Request, actor: Actor = ActorDep) -> list[ScriptOut]:
    """The active scripts that apply to this conversation (its channel, a queue it went through)."""
    return [ScriptOut.model_validate(s) for s in scripts.applicable(runtime(request).sessions, actor, conversation_id)]


@router.get("/conversations/{conversation_id}/script-runs", response_model=list[RunOut])
def list_runs(conversation_id: PathId, request: Request, actor: Actor = ActorDep) -> list[RunOut]:
    return [_run_out(r) for r in scripts.list_runs(runtime(request).sessions, actor, conversation_id)]


@router.post("/conversations/{conversation_id}/script-runs", response_model=RunOut, status_code=201)
def start_run(conversation_id: PathId, body: RunStart, request: Request, actor: Actor = ActorDep) -> RunOut:
    return _run_out(scripts.start_run(runtime(request).sessions, actor, conversation_id, body.script_id))


@router.get("/script-runs/{run_id}", response_model=RunOut)
def get_run(run_id: PathId, request: Request, actor: Actor = ActorDep) -> RunOut:
    return _run_out(scripts.get_run(runtime(request).sessions, actor, run_id))


@router.post("/script-runs/{run_id}/answer", response_model=RunOut)
def answer(run_id: PathId, body: RunAnswer, request: Request, actor: Actor = ActorDep) -> RunOut:
    """Answer the current step: 422 naming ``value`` when the answer does not fit the question."""
    return _run_out(scripts.answer_step(runtime(request).sessions, actor, run_id, body.step_id, body.value))


@router.post("/script-runs/{run_id}/back", response_model=RunOut)
def back(run_id: PathId, request: Request, actor: Actor = ActorDep) -> RunOut:
    return _run_out(scripts.go_back(runtime(request).sessions, actor, run_id))


@router.post("/script-runs/{run_id}/abandon", response_model=RunOut)
def abandon(run_id: PathId, request: Request, actor: Actor = ActorDep) -> RunOut:
    return _run_out(scripts.abandon_run(runtime(request).sessions, actor, run_id))
