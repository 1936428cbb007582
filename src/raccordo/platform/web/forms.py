"""The page kernel's form handling, shared by every capability's admin and desk pages: the posted
form as a dict, a reader that types its values and collects translated errors by field, and a
service error placed next to the field it names.

No posted text reaches a use case with U+0000 in it (PostgreSQL cannot store it): reading such a
field from the posted form (``PostedForm``) is refused with a 422 naming it (an error page, or for
htmx the fragment aimed at the page's error region), and a ``FormReader`` shows it as an error on
the form next to the field."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from raccordo.platform.errors import InvalidInput, RaccordoError
from raccordo.platform.hours import DAYS
from raccordo.platform.i18n import translate
from raccordo.platform.web.schemas import MAX_ID, TEXT_NUL, nul_field, shown_field

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class PostedForm(dict[str, Any]):
    """The posted form (lists for repeated names). Reading a field whose text holds U+0000 (``get``
    or ``[]``) raises ``InvalidInput`` naming it, so no page hands such text to a use case; a
    ``FormReader`` takes the values as posted and shows that error on the form instead."""

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        if nul_field(name) or nul_field(value):
            raise InvalidInput(TEXT_NUL, field=shown_field(name))
        return value

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default


async def form_data(request: Request) -> PostedForm:
    """The posted form; empty for GET."""
    data = PostedForm()
    if request.method in SAFE_METHODS:
        return data
    form = await request.form()
    for key in form:
        values = form.getlist(key)
        data[key] = values if len(values) > 1 or key.endswith("[]") else values[0]
    return data


FormDep = Depends(form_data)


def form_id(value: Any) -> int | None:
    """A row id posted in a form or a query: decimal digits only (``"²".isdigit()`` is true, and
    int() refuses it) and within the id column, else None."""
    text = str(value) if value is not None else ""
    return int(text) if text.isdecimal() and 0 < int(text) <= MAX_ID else None


def field_errors(exc: RaccordoError, lang: str) -> dict[str, str]:
    """A service error as {form field: translated message}; nested fields (``relax.0``) go to their base field."""
    field = (exc.field or "_form").split(".")[0]
    return {field: error_message(exc, lang)}


def error_message(exc: RaccordoError, lang: str) -> str:
    """A service error translated for a page (the kind of a missing row named in the reader's
    language, the field it names as ``{field}``)."""
    params = dict(exc.params)
    if exc.field is not None:
        params.setdefault("field", exc.field)
    if "kind" in params and exc.key == "error.not_found_id":
        params["kind"] = translate(f"noun.{params['kind']}", lang)
    return translate(exc.key, lang, **params)


def saved_redirect(path: str) -> Response:
    """After a successful admin form: back to the page, which shows "saved"."""
    return RedirectResponse(f"{path}?saved=1", status_code=303)


class FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


class FormReader:
    """Reads typed values from a posted form, collecting translated errors by field."""

    def __init__(self, form: dict[str, Any], lang: str) -> None:
        # The values as posted (``items()`` reads past PostedForm's refusal): a NUL becomes an error here.
        self.form: dict[str, Any] = dict(form.items())
        self.lang = lang
        self.errors: dict[str, str] = {}
        for name, value in self.form.items():
            if nul_field(name) or nul_field(value):
                # Next to the field, and atop the form too: a hidden field has no place of its own.
                shown = shown_field(name)
                self.errors[shown] = translate("ui.error.text_nul", lang)
                self.errors.setdefault("_form", translate(TEXT_NUL, lang, field=shown))

    def text(self, name: str, required: bool = False) -> str | None:
        value = str(self.form.get(name) or "").strip()
        if required and not value:
            self.errors[name] = translate("ui.error.required", self.lang)
        return value or None

    def integer(self, name: str, low: int, high: int, default: int | None = None) -> int | None:
        raw = str(self.form.get(name) or "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            self.errors[name] = translate("ui.error.integer", self.lang, low=low, high=high)
            return default
        return value

    def number(self, name: str, low: float, high: float, default: float) -> float:
        raw = str(self.form.get(name) or "").strip().replace(",", ".")
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            self.errors[name] = translate("ui.error.number", self.lang, low=low, high=high)
            return default
        return value

    def checked(self, name: str) -> bool:
        return str(self.form.get(name) or "") in ("1", "on", "true")

    def ids(self, name: str) -> list[int]:
        raw = self.form.get(name) or []
        values = raw if isinstance(raw, list) else [raw]
        return sorted({id_ for id_ in map(form_id, values) if id_ is not None})

    def json(self, name: str, kind: type, default: Any) -> Any:
        raw = str(self.form.get(name) or "").strip()
        if not raw:
            return default
        try:
            value = json.loads(raw)
        except ValueError as exc:
            self.errors[name] = translate("ui.error.json", self.lang, reason=str(exc))
            return default
        if not isinstance(value, kind):
            self.errors[name] = translate("ui.error.json_list" if kind is list else "ui.error.json_object", self.lang)
            return default
        return value

    def hours(self) -> dict[str, Any] | None:
        """Business hours from the week editor: ``09:00-13:00, 14:00-18:00`` per day, closed dates one per line."""
        if not self.checked("hours_enabled"):
            return None
        weekly: dict[str, list[list[str]]] = {}
        for day in DAYS:
            raw = str(self.form.get(f"hours_{day}") or "").strip()
            spans = []
            for part in filter(None, (p.strip() for p in raw.split(","))):
                start, dash, end = part.partition("-")
                if not dash:
                    self.errors["business_hours"] = translate("ui.error.hours_format", self.lang, value=part)
                    continue
                spans.append([start.strip(), end.strip()])
            if spans:
                weekly[day] = spans
        closed = [
            line.strip()
            for line in str(self.form.get("closed_dates") or "").replace(",", "\n").splitlines()
            if line.strip()
        ]
        return {
            "timezone": str(self.form.get("timezone") or "Europe/Rome").strip(),
            "weekly": weekly,
            "closed_dates": closed,
        }

    def done(self) -> None:
        if self.errors:
            raise FormErrors(self.errors)


def hours_fields(hours: dict[str, Any] | None) -> dict[str, Any]:
    """The week editor's values from stored business hours."""
    hours = hours or {}
    weekly = hours.get("weekly") or {}
    return {
        "enabled": bool(hours),
        "timezone": hours.get("timezone", "Europe/Rome"),
        "days": {day: ", ".join(f"{a}-{b}" for a, b in weekly.get(day, [])) for day in DAYS},
        "closed": "\n".join(hours.get("closed_dates") or []),
    }
