"""The SMS sandbox's memory and its webhook calls, shared by the Twilio and Vonage stand-ins.

Both providers call the inbox's webhook the way they document it: retried while it is not
answered 2xx (Twilio: https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides,
Vonage: https://developer.vonage.com/en/getting-started/concepts/webhooks "retries"), sometimes
twice (``duplicate``), statuses sometimes in reverse order (``out_of_order``). The sandbox retries
``RETRIES`` times, quickly, so tests see the retry without waiting.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRIES = 3
RETRY_DELAYS = (0.1, 0.3, 0.9)
E164 = re.compile(r"^\+?[1-9][0-9]{6,14}$")


@dataclass
class SmsAccount:
    """One provider account as the sandbox plays it (a Twilio account or a Vonage API key)."""

    provider: str
    account_id: str  # Twilio Account SID / Vonage API key
    secret: str  # Twilio auth token / Vonage API secret
    numbers: list[str]
    webhook_url: str
    status_url: str = ""
    signature_secret: str = ""  # Vonage: signs webhooks (JWT HS256)
    public_key: str = ""  # Vonage: the application's public key, to check RS256 JWTs
    application_id: str = ""
    auto_statuses: list[str] = field(default_factory=list)
    status_delay: float = 0.2
    out_of_order: bool = False
    duplicate: bool = False
    rate_per_second: int = 30
    # Error codes (Twilio) or HTTP statuses (Vonage) to answer the next sends with, in order.
    fail_next: list[int] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    recent_sends: list[float] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def throttled(self) -> bool:
        now = time.monotonic()
        self.recent_sends = [t for t in self.recent_sends if now - t < 1.0]
        if len(self.recent_sends) >= self.rate_per_second:
            return True
        self.recent_sends.append(now)
        return False


class SmsSandbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accounts: dict[tuple[str, str], SmsAccount] = {}

    def add(self, account: SmsAccount) -> None:
        with self.lock:
            self.accounts[(account.provider, account.account_id)] = account

    def get(self, provider: str, account_id: str) -> SmsAccount | None:
        return self.accounts.get((provider, account_id))


SANDBOX = SmsSandbox()


def deliver(account: SmsAccount, url: str, body: bytes, headers: dict[str, str]) -> list[dict[str, Any]]:
    """POST to the inbox, retried on non-2xx; twice when the account duplicates its webhooks."""
    attempts: list[dict[str, Any]] = []
    for copy in range(2 if account.duplicate else 1):
        for attempt in range(RETRIES + 1):
            try:
                status: int | str = httpx.post(url, content=body, headers=headers, timeout=15).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            attempts.append({"copy": copy, "attempt": attempt, "status": status, "url": url})
            if isinstance(status, int) and 200 <= status < 300:
                break
            if attempt < RETRIES:
                time.sleep(RETRY_DELAYS[attempt])
    account.deliveries.extend(attempts)
    return attempts


def later(account: SmsAccount, states: list[str], report: Callable[[str], None]) -> None:
    """The account's automatic statuses for an accepted send, after its delay, in a thread of their own."""
    ordered = list(reversed(states)) if account.out_of_order else list(states)

    def run() -> None:
        time.sleep(account.status_delay)  # the provider's own timing (the carrier answering), not a test's wait
        for state in ordered:
            report(state)

    threading.Thread(target=run, name="sandbox-sms-statuses", daemon=True).start()
