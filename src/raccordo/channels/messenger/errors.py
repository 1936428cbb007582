"""Send API error codes: retry or give up, and what each means to an agent. Pure.

Codes from Meta's Messenger Platform error reference
(https://developers.facebook.com/documentation/business-messaging/messenger-platform/error-codes)
and the Send API reference (https://developers.facebook.com/docs/messenger-platform/reference/send-api/):
the answer to a refused send is a Graph error object ``{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}``. Instagram Direct goes through the same Send API and answers
with the same codes. Each known case has an agent-facing key (``meta.error.<name>``) that the
outbox shows on the failed message through ``DeliveryError(reason=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Throttled (application, page or per-user limits): retried after a wait.
RATE_LIMITED = frozenset({4, 17, 32, 613})
# Meta's side failed or timed out: retried.
TRANSIENT = frozenset({1, 2, 1200})
# Subcodes of code 10 and 100 that mean "outside the allowed messaging window".
OUTSIDE_WINDOW_SUBCODES = frozenset({2018278, 2018065, 2534022})
USER_UNAVAILABLE = 551
# Seconds to wait after a rate-limit code when Meta gives no Retry-After (its limits are per hour
# and per minute windows; a minute is the shortest that can help).
RATE_LIMIT_WAIT = 60.0


@dataclass(frozen=True)
class SendError:
    """One refusal as Meta reports it, and the HTTP status of the answer (``None``: never reached Meta)."""

    code: int | None
    subcode: int | None = None
    message: str = ""
    http_status: int | None = None

    @property
    def outside_window(self) -> bool:
        return self.subcode in OUTSIDE_WINDOW_SUBCODES

    @property
    def rate_limited(self) -> bool:
        return self.code in RATE_LIMITED or (self.code is None and self.http_status == 429)

    @property
    def retryable(self) -> bool:
        if self.outside_window or self.code == USER_UNAVAILABLE:
            return False
        if self.rate_limited or self.code in TRANSIENT:
            return True
        if self.code is None:
            # No Graph error body: unreachable, a 5xx or a proxy's answer are worth another try.
            return self.http_status is None or self.http_status >= 500
        return False

    @property
    def reason(self) -> str:
        """The i18n key explaining this refusal to an agent."""
        if self.outside_window:
            return "meta.error.outside_window"
        if self.code == USER_UNAVAILABLE:
            return "meta.error.user_unavailable"
        if self.rate_limited:
            return "meta.error.rate_limited"
        if self.code == 190:
            return "meta.error.token"
        if self.code in (10, 200, 230):
            return "meta.error.permission"
        if self.retryable:
            return "meta.error.temporary"
        return "meta.error.unknown"

    def describe(self) -> str:
        """The technical text for logs and the outbox row (never the token)."""
        code = f"{self.code}/{self.subcode}" if self.subcode else str(self.code or self.http_status or "unreachable")
        return f"Meta Send API {code}: {self.message or '-'}"[:500]


def from_body(data: object, http_status: int | None = None) -> SendError:
    """The ``error`` object of a Graph API answer."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return SendError(None, http_status=http_status)
    code, subcode = error.get("code"), error.get("error_subcode")
    return SendError(
        code if isinstance(code, int) else None,
        subcode if isinstance(subcode, int) else None,
        str(error.get("message") or "")[:300],
        http_status,
    )
