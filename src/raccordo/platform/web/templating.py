"""Jinja2 for the agent desktop and the admin pages: one environment, autoescaped, with ``t(key)``
translating through the same catalogs as the API, and the headers every page carries (CSP)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context

from raccordo.platform.i18n import translate

# Each capability registers its own templates folder (``register_templates``); names are unique
# across packages, so an ``{% include %}`` finds a template wherever it lives.
_LOADER = FileSystemLoader([])


def register_templates(folder: Path) -> None:
    """Add a package's ``templates/`` folder to the one page environment (idempotent)."""
    if str(folder) not in _LOADER.searchpath:
        _LOADER.searchpath.append(str(folder))


# Scripts and styles from this server only: no inline script, no eval (Alpine's CSP build),
# no inline <style>. The email frame is same-origin (its own response adds a sandbox CSP).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@pass_context
def _t(context: Any, key: str, **params: object) -> str:
    return translate(key, context.get("lang", "en"), **params)


@pass_context
def _when(context: Any, value: datetime | None, lang: str = "en") -> str:
    """A short label in the organization's time (``zone`` of the page context, UTC without one):
    the hour today, else the date (dates in the reader's order)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    zone = context.get("zone") or UTC
    value, now = value.astimezone(zone), datetime.now(zone)
    if value.date() == now.date():
        return value.strftime("%H:%M")
    return value.strftime("%d/%m/%Y %H:%M" if lang == "it" else "%Y-%m-%d %H:%M")


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


environment = Environment(loader=_LOADER, autoescape=True, trim_blocks=True, lstrip_blocks=True)
environment.globals["t"] = _t
environment.filters["when"] = _when
environment.filters["iso"] = _iso


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page or an htmx fragment with the security headers."""
    values = {"request": request, "lang": "en", "me": None, "csrf_token": "", "errors": {}, **context}
    body = environment.get_template(template).render(values)
    page_headers = dict(PAGE_HEADERS)
    if context.get("frame_origins"):  # side-panel apps: this response may frame exactly their origins
        page_headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "frame-src 'self'", "frame-src 'self' " + " ".join(context["frame_origins"])
        )
    return HTMLResponse(body, status_code=status_code, headers={**page_headers, **(headers or {})})


@pass_context
def _label(context: Any, prefix: str, value: object) -> str:
    """``t(prefix.value)`` for an enumerated value (channel, status, event kind), or the value itself
    when not in the catalog."""
    if value is None or value == "":
        return ""
    key = f"{prefix}.{value}"
    text = translate(key, context.get("lang", "en"))
    return str(value) if text == key else text


environment.globals["label"] = _label
