"""Mail for the email tests: a customer's message to the support address, and waiting for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

SUPPORT = "support@acme.example"
CUSTOMER = "mario.rossi@customer.example"


def customer_mail(
    subject: str,
    text: str,
    *,
    sender: str = CUSTOMER,
    to: str = SUPPORT,
    in_reply_to: str | None = None,
    references: str | None = None,
    extra: dict[str, str] | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Mario Rossi <{sender}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="customer.example")
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = references
    for name, value in (extra or {}).items():
        mail[name] = value
    mail.set_content(text)
    return mail


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
