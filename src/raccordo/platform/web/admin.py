"""The admin resource helper every admin page uses: one list page with the create form, one edit
page, create, update and delete, given the service calls, the template and the form reader.

One rule for errors, the same on every admin page:
- a value the form cannot parse or a service refuses re-renders the form, 422, the message next
  to the field it names (``FormErrors`` from the reader, ``RaccordoError.field`` from a service);
- a refused delete (the row is still in use) re-renders the list, 409, the message on top;
- the edited row itself gone (another admin deleted it) or of another tenant, or a role that may
  not, raise: the page kernel answers the HTML error page (an htmx request gets it in the page's
  error region, never a silent 404)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import Response

from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.web.forms import FormDep, FormErrors, FormReader, error_message, field_errors, saved_redirect
from raccordo.platform.web.pages import base_context
from raccordo.platform.web.templating import render

Values = dict[str, Any]


class AdminUser(Protocol):
    """What the helper needs of the logged-in user (``accounts.pages.session.Me``); read-only
    members, as ``Me`` derives ``lang`` from the actor (a property)."""

    @property
    def lang(self) -> str: ...
    @property
    def csrf(self) -> str: ...
    @property
    def timezone(self) -> str: ...

    @property
    def actor(self) -> Any: ...


def is_the_row(exc: RaccordoError, kind: str, row_id: int | None) -> bool:
    """Whether a service's NotFound names the row being edited (not another id the form refers to)."""
    return (
        isinstance(exc, NotFound)
        and row_id is not None
        and exc.params.get("id") == row_id
        and exc.params.get("kind", kind) == kind
    )


@dataclass
class AdminResource:
    """An admin resource's pages under ``path``. ``page(request, me, row_id)`` is the service's read
    model: the lists the template shows and, for an id, the row (``row``) and its stored form values
    (``stored``); it raises NotFound when the row is gone. ``read(reader)`` types the posted form;
    ``create``/``update``/``delete`` call one service use case each (None: the page has no such action)."""

    path: str
    kind: str  # the row's noun in NotFound errors (its table name)
    template: str
    nav: str
    guard: Callable[[Any], None]
    page: Callable[[Request, Any, int | None], Values]
    read: Callable[[FormReader], Values] | None = None
    create: Callable[[Request, Any, Values], int | Response] | None = (
        None  # the new id, or a page of its own (a secret shown once)
    )
    update: Callable[[Request, Any, int, Values], int | Response | None] | None = (
        None  # the id (None: the same), or a page of its own (e.g. the form redrawn, nothing saved)
    )
    delete: Callable[[Request, Any, int], None] | None = None
    defaults: Values = field(default_factory=dict)
    row_name: str = "row"  # the template's name for the edited row
    edit_template: str | None = None  # the edit page's own template, when the list has none
    view: Callable[[Values], Values] | None = None  # template values derived from the form's (json text, hours fields)
    keep_typed: Callable[[Values, dict[str, str], Values], None] | None = (
        None  # (values, errors, form): what was typed stays
    )
    after_save: Callable[[int], str] | None = None  # where to go after a save (default: the row's page)
    errors_of: Callable[[RaccordoError, str], dict[str, str]] = field_errors  # a service error by form field
    forbidden_field: str | None = (
        None  # a Forbidden from a save shown on this field, 403 (a role the admin may not grant)
    )

    def render(
        self,
        request: Request,
        me: AdminUser,
        row_id: int | None,
        values: Values | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
        **extra_context: Any,
    ) -> Response:
        data = self.page(request, me, row_id)
        stored = data.pop("stored", None)
        row = data.pop("row", None)
        form_values = values if values is not None else (stored if stored is not None else dict(self.defaults))
        extra = self.view(form_values) if self.view else {}
        template = self.edit_template if row_id is not None and self.edit_template else self.template
        context = base_context(
            me, nav=self.nav, v=form_values, errors=errors or {}, saved=request.query_params.get("saved")
        )
        context |= {self.row_name: row, **data, **extra, **extra_context}
        return render(request, template, context, status_code=status)

    def save(self, request: Request, me: AdminUser, form: Values, row_id: int | None) -> Response:
        self.guard(me)
        reader = FormReader(form, me.lang)
        values = self.read(reader) if self.read else dict(reader.form)
        status = 422
        try:
            reader.done()
            if row_id is None:
                assert self.create is not None
                saved_id = self.create(request, me, values)
            else:
                assert self.update is not None
                saved_id = self.update(request, me, row_id, values) or row_id
        except FormErrors as exc:
            errors = exc.errors
        except Forbidden as exc:
            if self.forbidden_field is None:
                raise
            errors, status = {self.forbidden_field: error_message(exc, me.lang)}, 403
        except RaccordoError as exc:
            if is_the_row(exc, self.kind, row_id):
                raise
            errors = self.errors_of(exc, me.lang)
        else:
            if isinstance(saved_id, Response):
                return saved_id
            return saved_redirect(self.after_save(saved_id) if self.after_save else f"{self.path}/{saved_id}")
        if self.keep_typed:
            self.keep_typed(values, errors, reader.form)  # as posted: a NUL is on the form as an error
        return self.render(request, me, row_id, values, errors, status)

    def remove(self, request: Request, me: AdminUser, row_id: int) -> Response:
        self.guard(me)
        assert self.delete is not None
        try:
            self.delete(request, me, row_id)
        except RaccordoError as exc:
            if isinstance(exc, Forbidden | NotFound):
                raise
            return self.render(
                request, me, None, None, {"_form": next(iter(self.errors_of(exc, me.lang).values()))}, 409
            )
        return saved_redirect(self.path)

    def mount(self, router: APIRouter, me_dep: Any) -> None:
        """Add the resource's routes to a page router; ``me_dep`` is the logged-in user's dependency."""
        path = self.path

        def list_page(request: Request, me: Any = me_dep) -> Response:
            self.guard(me)
            return self.render(request, me, None)

        router.add_api_route(path, list_page, methods=["GET"], name=f"{self.nav}_list")
        if self.create is not None:

            def create(request: Request, me: Any = me_dep, form: Values = FormDep) -> Response:
                return self.save(request, me, form, None)

            router.add_api_route(path, create, methods=["POST"], name=f"{self.nav}_create")
        if self.update is not None:

            def edit_page(row_id: int, request: Request, me: Any = me_dep) -> Response:
                self.guard(me)
                return self.render(request, me, row_id)

            def update(row_id: int, request: Request, me: Any = me_dep, form: Values = FormDep) -> Response:
                return self.save(request, me, form, row_id)

            router.add_api_route(f"{path}/{{row_id}}", edit_page, methods=["GET"], name=f"{self.nav}_edit")
            router.add_api_route(f"{path}/{{row_id}}", update, methods=["POST"], name=f"{self.nav}_update")
        if self.delete is not None:

            def delete(row_id: int, request: Request, me: Any = me_dep) -> Response:
                return self.remove(request, me, row_id)

            router.add_api_route(f"{path}/{{row_id}}/delete", delete, methods=["POST"], name=f"{self.nav}_delete")
