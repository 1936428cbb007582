"""WhatsApp Cloud API error codes: which are worth retrying, and what they mean to an agent. Pure.

The codes and their meaning are Meta's error-code reference
(https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes);
the same codes reach us in two ways: in the HTTP answer to a send (``{"error": {"code": ...}}``)
and in a ``failed`` status on the webhook (``statuses[].errors[]``). Each known code has an
agent-facing explanation in the i18n catalogs (``whatsapp.error.<code>``); an unknown code falls
back to Meta's own title with the code, so the agent can still look it up.
"""

from __future__ import annotations

from dataclasses import dataclass

from raccordo.platform.i18n import catalog, translate

# Throughput and rate limits: retried with the outbox's backoff.
RATE_LIMITED = frozenset({4, 80007, 130429, 131048, 131056})
# Meta's side is down or overloaded, or the request timed out there: retried.
TRANSIENT = frozenset({1, 2, 131000, 131016, 133004})
# The customer-service window is closed: only a template can reach the customer now.
REENGAGEMENT = 131047
INVALID_RECIPIENT = 131026
# How long to wait before sending again after a rate limit, when Meta gives no Retry-After: a
# throughput limit (130429) clears within seconds; a limit per customer (131056) or per account
# (80007, 4) takes about a minute (Meta's throughput and rate-limit guides).
RATE_LIMIT_WAIT = {130429: 5.0, 131056: 60.0, 80007: 60.0, 4: 60.0, 131048: 300.0}
HTTP_TOO_MANY = 429


@dataclass(frozen=True)
class GraphError:
    """One error as Meta reports it: the code, its title and details, and the HTTP status when it came from a call."""

    code: int | None
    title: str = ""
    details: str = ""
    http_status: int | None = None
    # The answer's ``Retry-After`` header, in seconds, when it had one.
    retry_after_header: float | None = None

    @property
    def retryable(self) -> bool:
        if self.code in RATE_LIMITED or self.code in TRANSIENT:
            return True
        if self.code is None:
            # No Graph error body: a 429, a 5xx or a proxy's answer; 4xx otherwise means the request is wrong.
            return self.http_status is None or self.http_status == 429 or self.http_status >= 500
        return False

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait before the next attempt when this is a rate limit; None otherwise."""
        if self.retry_after_header is not None:
            return self.retry_after_header
        if self.code in RATE_LIMIT_WAIT:
            return RATE_LIMIT_WAIT[self.code]
        if self.http_status == HTTP_TOO_MANY:
            return 30.0
        return None

    def reason(self) -> tuple[str, dict[str, str]]:
        """The agent-facing explanation as an i18n key and its values (``whatsapp.error.<code>``, or
        ``whatsapp.error.unknown`` with Meta's title), for the desk to render in the agent's language."""
        code = self.code if self.code is not None else self.http_status
        params = {"code": str(code) if code is not None else "", "title": self.title or self.details or "?"}
        key = f"whatsapp.error.{self.code}"
        if self.code is not None and key in catalog("en"):
            return key, params
        return "whatsapp.error.unknown", params

    def explain(self, language: str) -> str:
        """An explanation an agent understands, in ``language``, ending with the code to look up."""
        key = f"whatsapp.error.{self.code}"
        if self.code is not None and key in catalog("en"):
            text = translate(key, language)
        else:
            text = translate("whatsapp.error.unknown", language, title=self.title or self.details or "?")
        code = self.code if self.code is not None else self.http_status
        return f"{text} (WhatsApp {code})" if code is not None else text


def from_body(data: object, http_status: int | None = None) -> GraphError:
    """The ``error`` object of a Graph API answer (``{"error": {"code", "message", "error_data"}}``)."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return GraphError(None, http_status=http_status)
    details = error.get("error_data", {}).get("details", "") if isinstance(error.get("error_data"), dict) else ""
    code = error.get("code")
    return GraphError(code if isinstance(code, int) else None, str(error.get("message", "")), str(details), http_status)


def from_status(error: object) -> GraphError:
    """One of ``statuses[].errors[]`` of a ``failed`` status webhook."""
    if not isinstance(error, dict):
        return GraphError(None)
    details = error.get("error_data", {}).get("details", "") if isinstance(error.get("error_data"), dict) else ""
    code = error.get("code")
    return GraphError(
        code if isinstance(code, int) else None, str(error.get("title") or error.get("message") or ""), str(details)
    )
