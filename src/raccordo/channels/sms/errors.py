"""Twilio and Vonage errors: retryable or permanent, and what they mean to an agent.

Twilio's codes come back in two ways: the answer to ``POST .../Messages.json`` (``{"code",
"message", "more_info", "status"}``, https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions)
and the ``ErrorCode`` of an ``undelivered``/``failed`` status callback
(https://www.twilio.com/docs/messaging/guides/track-outbound-message-status); each code is on
https://www.twilio.com/docs/api/errors/<code>. Vonage's Messages API answers an RFC 7807 problem
(``{"type", "title", "detail", "instance"}``, https://developer.vonage.com/en/api-errors/messages)
and reports failed deliveries with an ``error`` object on the status webhook
(https://developer.vonage.com/en/api/messages#message-status).

Every known code has an agent-facing text in the i18n catalogs (``sms.error.<code>``); an unknown
one falls back to the provider's own words with the code, so the agent can still look it up.
"""

from __future__ import annotations

from raccordo.channels.base import DeliveryError
from raccordo.platform.i18n import catalog, translate

# Twilio: too many requests, queue overflow, or Twilio's side failing: retried with backoff.
TWILIO_RETRYABLE = frozenset({20429, 20500, 20503, 30001, 30008})
TWILIO_OPTED_OUT = 21610
TWILIO_INVALID_TO = 21211
# Codes with an explanation of their own in the catalogs.
TWILIO_EXPLAINED = frozenset(
    {20003, 20429, 21211, 21408, 21606, 21610, 21612, 21614, 21617, 30001, 30003, 30004, 30005, 30006, 30007, 30008}
)
# Seconds to wait when a 429 carries no Retry-After.
DEFAULT_RETRY_AFTER = 5.0


def explain(provider: str, code: object, detail: str, language: str) -> str:
    """What went wrong, for the agent, in ``language``, ending with the provider's code to look up."""
    key = f"sms.error.{code}"
    if provider == "twilio" and key in catalog("en"):
        text = translate(key, language)
    else:
        text = translate("sms.error.unknown", language, detail=detail or "?")
    label = "Twilio" if provider == "twilio" else "Vonage"
    return f"{text} ({label} {code})" if code not in (None, "") else text


def retry_after(header: str | None) -> float:
    try:
        return max(0.0, float(header)) if header else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER


def twilio_failure(http_status: int, body: object, retry_header: str | None, language: str) -> DeliveryError:
    """The error of a refused Twilio send: permanent unless Twilio says to come back later."""
    data = body if isinstance(body, dict) else {}
    raw_code = data.get("code")
    code = raw_code if isinstance(raw_code, int) else None
    message = str(data.get("message") or f"HTTP {http_status}")
    retryable = code in TWILIO_RETRYABLE or (code is None and (http_status == 429 or http_status >= 500))
    wait = retry_after(retry_header) if http_status == 429 or code == 20429 else None
    reason = f"sms.error.{code}" if code in TWILIO_EXPLAINED else "sms.error.unknown"
    return DeliveryError(
        f"Twilio {code or http_status}: {explain('twilio', code or http_status, message, language)}",
        permanent=not retryable,
        retry_after=wait,
        reason=reason,
        params={"detail": message[:300]},
    )


def vonage_failure(http_status: int, body: object, retry_header: str | None, language: str) -> DeliveryError:
    """The error of a refused Vonage send: 429 and 5xx are retried, the rest (401, 402, 422) are not."""
    data = body if isinstance(body, dict) else {}
    title = str(data.get("title") or f"HTTP {http_status}")
    detail = str(data.get("detail") or title)
    retryable = http_status == 429 or http_status >= 500
    key = {401: "sms.error.vonage_auth", 402: "sms.error.vonage_balance", 422: "sms.error.vonage_invalid"}.get(
        http_status, "sms.error.vonage_throttled" if http_status == 429 else "sms.error.unknown"
    )
    return DeliveryError(
        f"Vonage {http_status} {title}: {translate(key, language, detail=detail[:300])}",
        permanent=not retryable,
        retry_after=retry_after(retry_header) if http_status == 429 else None,
        reason=key,
        params={"detail": detail[:300]},
    )


def unreachable(provider: str, error: Exception) -> DeliveryError:
    """The provider did not answer at all (network, timeout): retried."""
    return DeliveryError(
        f"{provider} unreachable: {type(error).__name__}",
        reason="sms.error.unreachable",
        params={"detail": type(error).__name__},
    )
