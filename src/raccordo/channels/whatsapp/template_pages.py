"""Admin pages of a WhatsApp inbox's message templates (``/admin/inboxes/{id}/whatsapp-templates``).

The list shows each template with its review status and category (as the last sync read them),
a "sync now" button, and a form (no JSON) to submit a new template to Meta: name, category,
language, header, body with ``{{1}}`` variables and one example per line, footer, up to three
buttons. Mounted by the channel (``Feature.HTTP``); thin: it reads the form, calls one use case
(``template_admin.py``) and renders. Only users who may manage inboxes get here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.channels.whatsapp import authoring, template_admin
from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.web.forms import FormDep, FormErrors, FormReader, error_message, saved_redirect
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
BLANK = {
    "name": "",
    "category": "utility",
    "language": "it",
    "header": "",
    "body": "",
    "examples": "",
    "footer": "",
    **{f"button_{part}_{n}": "" for n in range(1, authoring.MAX_BUTTONS + 1) for part in ("kind", "text", "value")},
}


def _page(
    request: Request, me: Me, inbox_id: int, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    view = template_admin.templates_view(runtime(request), me.actor, inbox_id)
    return render(
        request,
        "admin/whatsapp_templates.html",
        base_context(
            me,
            nav="admin-inboxes",
            view=view,
            v=values,
            errors=errors,
            categories=authoring.CATEGORIES,
            languages=authoring.LANGUAGES,
            button_kinds=authoring.BUTTON_KINDS,
            button_rows=range(1, authoring.MAX_BUTTONS + 1),
            saved=request.query_params.get("saved"),
            synced=request.query_params.get("synced"),
        ),
        status_code=status,
    )


def _path(inbox_id: int) -> str:
    return f"/admin/inboxes/{inbox_id}/whatsapp-templates"


@router.get("/admin/inboxes/{inbox_id}/whatsapp-templates")
def templates_page(inbox_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.MANAGE_INBOXES)
    return _page(request, me, inbox_id, dict(BLANK), {})


def _draft(reader: FormReader) -> tuple[authoring.TemplateDraft, dict[str, Any]]:
    values = {name: str(reader.form.get(name) or "").strip() for name in BLANK}
    buttons = [
        authoring.ButtonDraft(values[f"button_kind_{n}"], values[f"button_text_{n}"], values[f"button_value_{n}"])
        for n in range(1, authoring.MAX_BUTTONS + 1)
        if values[f"button_kind_{n}"]
    ]
    draft = authoring.TemplateDraft(
        name=values["name"],
        category=values["category"],
        language=values["language"],
        body=str(reader.form.get("body") or "").strip(),
        examples=values["examples"].splitlines(),
        header=values["header"],
        footer=values["footer"],
        buttons=buttons,
    )
    return draft, values


@router.post("/admin/inboxes/{inbox_id}/whatsapp-templates")
async def submit_template(inbox_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    me.require(Permission.MANAGE_INBOXES)
    reader = FormReader(form, me.lang)
    draft, values = _draft(reader)
    try:
        reader.done()
        await run_in_threadpool(template_admin.submit, runtime(request), me.actor, inbox_id, draft, me.lang)
    except FormErrors as exc:
        return _page(request, me, inbox_id, values, exc.errors, 422)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        field = exc.field if exc.field in values else "_form"
        return _page(request, me, inbox_id, values, {field: error_message(exc, me.lang)}, 422)
    return saved_redirect(_path(inbox_id))


@router.post("/admin/inboxes/{inbox_id}/whatsapp-templates/sync")
async def sync_templates(inbox_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    me.require(Permission.MANAGE_INBOXES)
    try:
        await run_in_threadpool(template_admin.sync_now, runtime(request), me.actor, inbox_id, me.lang)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _page(request, me, inbox_id, dict(BLANK), {"_form": error_message(exc, me.lang)}, 422)
    return saved_redirect(_path(inbox_id))
