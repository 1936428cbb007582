"""Customer panel actions beside a conversation: the panel fragment, recording a consent decision,
merging or dismissing a merge suggestion. Entrypoint layer: each re-renders ``_customer.html``
(with the error next to the form on a 4xx) and asks the head to refresh."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import or_, select

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.desk.pages.pages import conversation_context, customer_context
from raccordo.desk.services import customer_panel
from raccordo.platform.errors import Forbidden, InvalidInput, NotFound, RaccordoError
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Conversation, MergeSuggestion
from raccordo.platform.web.forms import FormDep, field_errors
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render
from raccordo.record.services import identity
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import get_owned

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _contact_id(session: Any, me: Me, conversation_id: int) -> int:
    """The (surviving) contact of a conversation of this tenant, without the whole page context."""
    conversation = get_owned(session, Conversation, me.actor.tenant_id, conversation_id)
    return live_contact(session, me.actor.tenant_id, conversation.contact_id).id


def _panel(request: Request, me: Me, conversation_id: int, errors: dict[str, str] | None = None, *, status: int = 200, changed: bool = False) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        context = conversation_context(session, me, conversation_id)
        context |= customer_context(session, me, context["contact"].id)
        headers = {"HX-Trigger": "raccordo:head"} if changed else {}
        return render(request, "_customer.html", base_context(me, panel_errors=errors or {}, **context), status_code=status, headers=headers)


@router.get("/conversations/{conversation_id}/customer")
def customer_panel_fragment(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    return _panel(request, me, conversation_id)


@router.post("/conversations/{conversation_id}/consent")
def post_consent(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    try:
        with unit_of_work(runtime(request).sessions) as session:
            contact_id = _contact_id(session, me, conversation_id)
            granted = str(form.get("granted") or "")
            if granted not in ("1", "0"):
                raise InvalidInput("composer.consent_choose_decision", field="granted")
            customer_panel.record_consent(
                session, me.actor, contact_id, purpose=str(form.get("purpose") or ""), granted=granted == "1", source=str(form.get("source") or ""), note=str(form.get("note") or ""),
            )
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _panel(request, me, conversation_id, {"consent_" + k: v for k, v in field_errors(exc, me.lang).items()}, status=422)
    return _panel(request, me, conversation_id, changed=True)


def _suggestion(session: Any, me: Me, contact_id: int, raw: Any) -> MergeSuggestion:
    """An open suggestion of the tenant that involves the panel's contact; 404 otherwise."""
    try:
        suggestion_id = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput("composer.merge_choose", field="suggestion_id") from None
    found = session.scalar(
        select(MergeSuggestion).where(
            MergeSuggestion.tenant_id == me.actor.tenant_id, MergeSuggestion.id == suggestion_id,
            or_(MergeSuggestion.contact_a_id == contact_id, MergeSuggestion.contact_b_id == contact_id),
        )
    )
    if found is None:
        raise NotFound("error.not_found_id", kind="merge_suggestions", id=suggestion_id)
    return found


@router.post("/conversations/{conversation_id}/merge")
def post_merge(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    """Merge the suggestion's other contact into the conversation's contact, which stays."""
    try:
        me.require(Permission.MERGE_CONTACTS)
        with unit_of_work(runtime(request).sessions) as session:
            contact_id = _contact_id(session, me, conversation_id)
            suggestion = _suggestion(session, me, contact_id, form.get("suggestion_id"))
            other_id = suggestion.contact_b_id if suggestion.contact_a_id == contact_id else suggestion.contact_a_id
            identity.merge_contacts(session, me.actor, contact_id, other_id)
    except NotFound:
        raise
    except RaccordoError as exc:  # Forbidden too: the panel says why, next to the suggestion
        return _panel(request, me, conversation_id, {"merge": next(iter(field_errors(exc, me.lang).values()))}, status=422)
    return _panel(request, me, conversation_id, changed=True)


@router.post("/conversations/{conversation_id}/merge-suggestions/{suggestion_id}/dismiss")
def post_dismiss(conversation_id: int, suggestion_id: int, request: Request, me: Me = MeDep) -> Response:
    try:
        me.require(Permission.MERGE_CONTACTS)
        with unit_of_work(runtime(request).sessions) as session:
            contact_id = _contact_id(session, me, conversation_id)
            suggestion = _suggestion(session, me, contact_id, suggestion_id)
            identity.dismiss_suggestion(session, me.actor, suggestion.id)
    except NotFound:
        raise
    except RaccordoError as exc:
        return _panel(request, me, conversation_id, {"merge": next(iter(field_errors(exc, me.lang).values()))}, status=422)
    return _panel(request, me, conversation_id)
