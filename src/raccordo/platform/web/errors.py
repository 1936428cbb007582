"""Every error is ``application/problem+json`` (RFC 9457) with a message a person can act on, in their language."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from raccordo.platform.errors import RaccordoError, TooManyRequests
from raccordo.platform.i18n import pick_language, translate

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
_TITLES = {
    400: "error.bad_request",
    401: "error.unauthorized",
    403: "error.forbidden",
    404: "error.not_found",
    405: "error.method_title",
    409: "error.conflict",
    413: "error.too_large",
    415: "error.media_type",
    422: "error.invalid",
    429: "error.rate_limited",
    500: "error.internal",
}


def request_language(request: Request) -> str:
    return pick_language(request.headers.get("accept-language"), getattr(request.state, "language", None))


def problem(
    request: Request,
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    language = request_language(request)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": translate(_TITLES.get(status, "error.bad_request"), language),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


# The errors any /api operation may answer, documented once for all of them (``document_errors``).
COMMON_ERRORS = {
    400: "Bad request",
    401: "Not logged in",
    403: "Forbidden for this role",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
}
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the common problem+json answers to every operation of the OpenAPI document (FastAPI's
    own 422 says ``application/json``: it is replaced, since the handler answers problem+json)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem_content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, description in COMMON_ERRORS.items():
                responses[str(status)] = {"description": description, "content": problem_content}
            if "429" in responses:
                responses["429"]["headers"] = {
                    "Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}
                }
    return schema


def message_params(exc: RaccordoError) -> dict[str, Any]:
    """The parameters of the error's message: its own, and the field it names (``{field}``)."""
    params = dict(exc.params)
    if exc.field is not None:
        params.setdefault("field", exc.field)
    return params


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not /api, not the widget's JSON): errors answer an HTML page."""
    path = request.url.path
    return not path.startswith(("/api/", "/widget/")) and "text/html" in request.headers.get("accept", "")


def install(app: FastAPI, html_page: Callable[[Request, int, str], Response] | None = None) -> None:
    """``html_page(request, status, message)`` renders the error page browsers get for unknown page URLs."""

    @app.exception_handler(RaccordoError)
    async def _domain(request: Request, exc: RaccordoError) -> JSONResponse:
        language = request_language(request)
        params = message_params(exc)
        if "kind" in params and exc.key == "error.not_found_id":
            params["kind"] = translate(f"noun.{params['kind']}", language)
        detail = translate(exc.key, language, **params)
        errors = [{"field": exc.field, "message": detail, "code": exc.key}] if exc.field else None
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        return problem(request, exc.status, detail, errors=errors, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        language = request_language(request)
        errors = []
        for item in exc.errors():
            if item.get("type") == "json_invalid":
                # The location of a JSON syntax error is a character offset, not a field.
                position = item.get("loc", ("body", "?"))[-1]
                reason = (item.get("ctx") or {}).get("error", "")
                errors.append(
                    {
                        "field": "body",
                        "message": translate("error.json_invalid", language, position=position, reason=reason),
                        "type": "json_invalid",
                    }
                )
                continue
            location = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path", "header")]
            errors.append(
                {"field": ".".join(location) or "body", "message": item.get("msg", ""), "type": item.get("type")}
            )
        first = errors[0] if errors else {"field": "body", "message": "", "type": None}
        if first["type"] == "json_invalid":
            detail = str(first["message"])
        else:
            detail = translate("error.field_invalid", language, field=first["field"], reason=first["message"])
        return problem(request, 422, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        language = request_language(request)
        key = {404: "error.route_not_found", 405: "error.method"}.get(exc.status_code)
        detail = translate(key, language, path=request.url.path, method=request.method) if key else str(exc.detail)
        if exc.status_code == 404 and html_page is not None and wants_html(request):
            return html_page(request, 404, translate("ui.error.page_not_found", language))
        return problem(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refuses the NUL character in text (SQLite stores it): a client's input, not
        # our failure. Nothing was written (the unit of work rolled back); say which character.
        reason = str(exc.orig or exc)
        if "0x00" in reason or "unsupported Unicode escape sequence" in reason:
            return problem(request, 422, translate("error.text_nul", request_language(request)))
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, translate("error.internal_detail", request_language(request)))
