"""Errors raised by the domain and services; entrypoints map them to HTTP problems.

Each error carries a translation key (see raccordo.platform.i18n) and its parameters so the
message a person reads is in their language.
"""

from __future__ import annotations


class RaccordoError(Exception):
    status = 400
    key = "error.bad_request"

    def __init__(self, key: str | None = None, *, field: str | None = None, **params: object) -> None:
        self.key = key or self.key
        self.field = field
        self.params = params
        super().__init__(f"{self.key} {params}")


class InvalidInput(RaccordoError):
    status = 422
    key = "error.invalid"


class NotFound(RaccordoError):
    status = 404
    key = "error.not_found"


class Forbidden(RaccordoError):
    status = 403
    key = "error.forbidden"


class Unauthorized(RaccordoError):
    status = 401
    key = "error.unauthorized"


class Conflict(RaccordoError):
    status = 409
    key = "error.conflict"


class TooManyRequests(RaccordoError):
    status = 429
    key = "error.rate_limited"

    def __init__(self, key: str | None = None, *, retry_after: int, field: str | None = None, **params: object) -> None:
        super().__init__(key, field=field, retry_after=retry_after, **params)
        self.retry_after = retry_after
