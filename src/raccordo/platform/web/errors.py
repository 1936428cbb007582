"""Every error is ``application/problem+json`` (RFC 9457) with a message a person can act on, in their language."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from raccordo.platform.errors import RaccordoError, TooManyRequests
from raccordo.platform.i18n import pick_language, translate

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
_TITLES = {400: "error.bad_request", 401: "error.unauthorized", 403: "error.forbidden", 404: "error.not_found", 405: "error.method", 409: "error.conflict", 413: "error.too_large", 415: "error.media_type", 422: "error.invalid", 429: "error.rate_limited", 500: "error.internal"}


def request_language(request: Request) -> str:
    return pick_language(request.headers.get("accept-language"), getattr(request.state, "language", None))


def problem(request: Request, status: int, detail: str, *, errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    language = request_language(request)
    body: dict[str, Any] = {"type": "about:blank", "title": translate(_TITLES.get(status, "error.bad_request"), language), "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(RaccordoError)
    async def _domain(request: Request, exc: RaccordoError) -> JSONResponse:
        language = request_language(request)
        params = dict(exc.params)
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
                errors.append({"field": "body", "message": translate("error.json_invalid", language, position=position, reason=reason), "type": "json_invalid"})
                continue
            location = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path", "header")]
            errors.append({"field": ".".join(location) or "body", "message": item.get("msg", ""), "type": item.get("type")})
        first = errors[0] if errors else {"field": "body", "message": "", "type": None}
        if first["type"] == "json_invalid":
            detail = first["message"]
        else:
            detail = translate("error.field_invalid", language, field=first["field"], reason=first["message"])
        return problem(request, 422, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        language = request_language(request)
        key = {404: "error.route_not_found", 405: "error.method"}.get(exc.status_code)
        detail = translate(key, language, path=request.url.path, method=request.method) if key else str(exc.detail)
        return problem(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, translate("error.internal_detail", request_language(request)))
