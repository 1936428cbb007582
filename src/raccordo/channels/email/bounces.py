"""Machine-generated mail, with no I/O: auto-replies (RFC 3834 ``Auto-Submitted`` and the vendor
headers: ``X-Autoreply``, ``Precedence``, Exchange's ``X-Auto-Response-Suppress``) and bounces,
RFC 3464 DSNs and the non-standard plain-text ones of old servers, read into which of our
messages failed and why. ``mime.parse_email`` calls them on every parsed message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from raccordo.channels.email.decoding import decode_header_value, header_value, message_ids, normalize_message_id

MAX_SCAN_CHARS = 65_536  # of a plain-text bounce searched for ids, status and recipient


@dataclass
class Bounce:
    """A delivery status notification: which of our messages failed, and why."""

    original_message_ids: list[str]
    recipients: list[str]
    status: str  # e.g. 5.1.1
    reason: str
    permanent: bool


def detect_automated(message: Message) -> str | None:
    """Why this message is machine-generated (an auto-reply, vacation notice, bulk mail), or None."""
    auto_submitted = header_value(message, "Auto-Submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autorespond-Id", "X-Vacation", "X-Mailer-Autoreply"):
        if message.get(name) is not None:
            return f"{name}: {header_value(message, name)}"
    precedence = header_value(message, "Precedence").lower()
    if precedence in ("bulk", "junk", "auto_reply", "auto-reply"):
        return f"Precedence: {precedence}"
    suppress = header_value(message, "X-Auto-Response-Suppress").lower()
    if "oof" in suppress or suppress == "all" or "autoreply" in suppress:
        return f"X-Auto-Response-Suppress: {suppress}"
    if header_value(message, "Return-Path").strip() == "<>":
        return "Return-Path: <>"
    return None


_BOUNCE_SUBJECT = re.compile(
    r"(?i)(undeliver|delivery (status notification|failure|has failed)|mail delivery failed|returned mail"
    r"|non[- ]?remis|mancato recapito|impossibile recapitare|failure notice)"
)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_BOUNCED_ID = re.compile(r"(?im)^[ \t]*Message-ID:[ \t]*<([^<>\s]{1,900})>")
_BOUNCED_RECIPIENT = re.compile(r"(?<![\w.+-])([\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8})")


def detect_bounce(message: Message, text: str) -> Bounce | None:
    """An RFC 3464 DSN (``multipart/report; report-type=delivery-status``) or a plain-text bounce."""
    content_type = message.get_content_type()
    report_type = message.get_param("report-type") or ""
    if isinstance(report_type, tuple):
        report_type = report_type[2]
    originals: list[str] = []
    recipients: list[str] = []
    statuses: list[str] = []
    reasons: list[str] = []
    actions: list[str] = []
    is_dsn = content_type == "multipart/report" and str(report_type).lower() == "delivery-status"
    if is_dsn:
        for part in message.walk():
            part_type = part.get_content_type()
            if part_type == "message/delivery-status":
                payload = part.get_payload()
                blocks = payload if isinstance(payload, list) else []
                if not blocks and isinstance(payload, str):
                    blocks = [
                        message_from_bytes(b.encode("utf-8", "replace"), policy=compat32)
                        for b in re.split(r"\r?\n\r?\n", payload)
                        if b.strip()
                    ]
                for block in blocks:
                    if not isinstance(block, Message):
                        continue
                    if block.get("Final-Recipient") or block.get("Original-Recipient"):
                        recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient"))
                        recipients.append(recipient.split(";", 1)[-1].strip())
                    if block.get("Action"):
                        actions.append(str(block.get("Action")).strip().lower())
                    if block.get("Status"):
                        statuses.append(str(block.get("Status")).strip())
                    if block.get("Diagnostic-Code"):
                        reasons.append(decode_header_value(block.get("Diagnostic-Code")).split(";", 1)[-1].strip())
            elif part_type in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
                originals.extend(_original_ids(part))
        if actions and all(a in ("delayed", "relayed", "delivered", "expanded") for a in actions):
            return None  # a delay warning or a success notice is not a failure
    else:
        sender = header_value(message, "From").lower()
        subject = header_value(message, "Subject")
        if not (("mailer-daemon" in sender or "postmaster" in sender) and _BOUNCE_SUBJECT.search(subject)):
            return None
        for part in message.walk():
            if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
                originals.extend(_original_ids(part))
        text = text[:MAX_SCAN_CHARS]
        originals.extend(f"<{m}>" for m in _BOUNCED_ID.findall(text))
        statuses.extend(_STATUS.findall(text)[:1])
        lines = [line.strip()[:1000] for line in text.splitlines() if line.strip()]
        reasons.append(
            next(
                (line for line in lines if _STATUS.search(line) or "550" in line or "user unknown" in line.lower()),
                lines[0] if lines else "",
            )[:500]
        )
        # Bounded pieces, tried only where an "@" is: a long word with no "@" is skipped at once.
        recipients.extend(m.group(1) for m in _BOUNCED_RECIPIENT.finditer(text) if m.group(1).count("@") == 1)
        recipients[:] = recipients[:1]
    originals.extend(message_ids(header_value(message, "In-Reply-To")))
    originals.extend(message_ids(header_value(message, "References")))
    unique = list(dict.fromkeys(originals))
    status = statuses[0] if statuses else ""
    reason = "; ".join(dict.fromkeys(r for r in reasons if r)) or header_value(message, "Subject")
    return Bounce(unique, recipients, status, reason[:1000], permanent=not status.startswith("4"))


def _original_ids(part: Message) -> list[str]:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        inner = payload[0]
        return [m for m in [normalize_message_id(str(inner.get("Message-ID") or ""))] if m]
    if isinstance(payload, str):
        return [f"<{m}>" for m in _BOUNCED_ID.findall(payload[:MAX_SCAN_CHARS])]
    return []
