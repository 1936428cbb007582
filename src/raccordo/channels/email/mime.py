"""Email rules with no I/O: parse real-world MIME into a normalized email (auto-replies and
bounces are detected in ``bounces.py``, charsets and header values decoded in ``decoding.py``,
quoted history and signatures split in ``quotes.py``, the reply-address token is in ``tokens.py``).

Python's ``email`` package does the MIME work (multipart trees, base64 and quoted-printable,
RFC 2047 encoded words, RFC 2231 parameters). What is written here is the part no
maintained library does for real-world mail as a contact center receives it:

- **lenient decoding**: the ``compat32`` policy never raises on malformed headers; 8-bit
  bytes in headers and bodies are decoded with the declared charset when it works, else
  UTF-8, else Windows-1252 (what mail clients and browsers do), and a body declared
  Latin-1 that is valid UTF-8 is read as UTF-8 (a very common mislabel);
- **choosing the bodies** of nested ``multipart/mixed``/``alternative``/``related`` trees,
  and telling inline ``cid:`` images from attachments;
- **DSN bounces** (RFC 3464) and non-standard ones from old servers, **auto-replies**
  (RFC 3834 ``Auto-Submitted`` and the vendor headers), in ``bounces.py``;
"""

from __future__ import annotations

import codecs
import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from raccordo.channels.email.bounces import Bounce, detect_automated, detect_bounce
from raccordo.channels.email.decoding import (
    decode_bytes,
    decode_header_value,
    header_value,
    message_ids,
    normalize_message_id,
    raw_header_text,
    repair_cp1252,
)
from raccordo.record.domain.content import html_to_text, sanitize_html

MAX_REFERENCES = 30
# Caps that keep every step linear and bounded, whatever the sender wrote (what is cut is noted; the raw stays).
MAX_PARTS = 1000  # leaf parts read (bodies and attachments) per message
MAX_CONTAINERS = 2000  # multipart containers walked
MAX_ADDRESS_HEADER_CHARS = 65_536  # of one address header (To, Cc) read for addresses
MAX_TEXT_CHARS = 1_000_000  # of one text or HTML body
MAX_FILENAME = 200
PARSE_SECONDS = 30.0  # a message that takes longer to read is failed (its raw is kept), never retried


class ParseTimeout(Exception):
    """Reading the message took longer than its time budget."""


codecs.register_error("raccordo-cp1252", repair_cp1252)


@dataclass(frozen=True)
class Address:
    name: str
    email: str


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass
class ParsedEmail:
    message_id: str
    message_id_generated: bool
    subject: str
    sender: Address | None
    to: list[Address]
    cc: list[Address]
    reply_to: list[Address]
    delivered_to: list[str]
    date: datetime | None
    in_reply_to: list[str]
    references: list[str]
    text: str
    html: str | None
    attachments: list[ParsedAttachment] = field(default_factory=list)
    automated: str | None = None  # why it is an auto-reply, or None
    bounce: Bounce | None = None
    defects: list[str] = field(default_factory=list)
    charset_fallback: bool = False
    # What could not be kept or read, for the agent: (translation key, params), e.g. a dropped part.
    notes: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    security: str | None = None  # "signed", "encrypted" or "signed-opaque" (S/MIME or PGP)

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this one answers, most relevant first (In-Reply-To, then References newest first)."""
        seen: list[str] = []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in seen:
                seen.append(mid)
        return seen[:MAX_REFERENCES]


def _addresses(message: Message, *names: str) -> list[Address]:
    values = []
    for name in names:
        for raw in message.get_all(name, []) or []:
            values.append(raw_header_text(raw)[:MAX_ADDRESS_HEADER_CHARS])
    result = []
    try:
        pairs = getaddresses(values)
    except Exception:  # noqa: BLE001 - a header the address parser chokes on
        pairs = [parseaddr(v) for v in values]
    for display, address in pairs:
        address = address.strip().strip("<>").strip()
        domain = address.rpartition("@")[2]
        # user@host with no dot is no Internet address (the identity layer refuses it too).
        if "@" not in address or " " in address or len(address) > 320 or "." not in domain.strip("."):
            continue
        result.append(Address(decode_header_value(display) if display else "", address))
    return result


def _filename(part: Message, index: int) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - a broken RFC 2231 continuation
        name = None
    if name:
        name = decode_header_value(name)
    if not name:
        raw = part.get_param("name")
        if isinstance(raw, tuple):
            raw = raw[2]
        name = decode_header_value(raw) if raw else ""
    name = re.sub(r"[\x00-\x1f/\\]", "_", name or "").strip().strip(".") or ""
    if not name:
        import mimetypes

        extension = mimetypes.guess_extension(part.get_content_type()) or ".bin"
        name = f"attachment-{index}{extension}"
    return shorten_filename(name)


def shorten_filename(name: str, limit: int = MAX_FILENAME) -> str:
    """At most ``limit`` characters, keeping the extension (a viewer chooses by it)."""
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and 0 < len(extension) <= 16:
        return f"{stem[: limit - len(extension) - 1].rstrip()}.{extension}"
    return name[:limit]


def _part_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - undecodable transfer encoding: keep the raw text
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("ascii", "surrogateescape")
    return b""


def _part_text(part: Message) -> tuple[str, bool]:
    return decode_bytes(_part_bytes(part), part.get_content_charset())


_MULTIPART_HEADER = re.compile(rb"(?im)^content-type:[ \t]*multipart/")
MAX_TREE_CONTAINERS = 100  # more multipart parts than this: read flat (the parser recurses once per level)


def _read_message(raw: bytes) -> tuple[Message, bool]:
    """The MIME tree, or the headers alone when it nests deeper than the parser recurses (flagged)."""
    if len(_MULTIPART_HEADER.findall(raw, 0, len(raw))[: MAX_TREE_CONTAINERS + 1]) > MAX_TREE_CONTAINERS:
        return BytesHeaderParser(policy=compat32).parsebytes(raw), True
    try:
        return message_from_bytes(raw, policy=compat32), False
    except RecursionError:
        return BytesHeaderParser(policy=compat32).parsebytes(raw), True


def parse_email(raw: bytes, *, seconds: float | None = None) -> ParsedEmail:
    """Parse raw RFC 5322 bytes. Never raises on malformed input; what could not be read is in ``defects``
    and ``notes``. Every step is linear in the input and capped; past ``seconds`` it raises ``ParseTimeout``."""
    seconds = PARSE_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    message, too_deep = _read_message(raw)
    defects = [type(d).__name__ for d in message.defects]
    notes: list[tuple[str, dict[str, str]]] = []
    declared_id = normalize_message_id(str(message.get("Message-ID") or ""))
    generated = declared_id is None
    message_id = declared_id or f"<{hashlib.sha256(raw).hexdigest()[:40]}@raccordo.generated>"
    senders = (
        _addresses(message, "From")
        or _addresses(message, "Sender")
        or _addresses(message, "Reply-To")
        or _addresses(message, "Return-Path")
    )
    date = None
    try:
        raw_date = message.get("Date")
        if raw_date:
            date = parsedate_to_datetime(str(raw_date)[:200])
            if date.tzinfo is None:
                from datetime import UTC

                date = date.replace(tzinfo=UTC)
    except Exception:  # noqa: BLE001 - a malformed Date is dropped
        date = None
        defects.append("InvalidDate")

    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[ParsedAttachment] = []
    fallback = False
    security: str | None = None
    leaves = containers = skipped = 0

    def add_text(text: str, into: list[str]) -> None:
        if len(text) > MAX_TEXT_CHARS:
            notes.append(("email.note.text_truncated", {"chars": str(len(text)), "kept": str(MAX_TEXT_CHARS)}))
            text = text[:MAX_TEXT_CHARS]
        into.append(text)

    def leaf(part: Message, disposition: str) -> None:
        nonlocal fallback, security
        content_type = part.get_content_type()
        if content_type in (
            "message/rfc822",
            "message/delivery-status",
            "text/rfc822-headers",
            "message/disposition-notification",
        ):
            _as_attachment(part, disposition_inline=False)
            return
        if content_type in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
            smime = str(part.get_param("smime-type") or "").lower()
            security = "signed-opaque" if "signed" in smime else "encrypted"
            notes.append((f"email.note.{security}", {}))
        elif content_type == "application/pgp-encrypted":
            security = "encrypted"
            notes.append(("email.note.encrypted", {}))
        filename_given = bool(part.get_param("name") or part.get_param("filename", header="content-disposition"))
        if (
            content_type in ("text/plain", "text/html")
            and disposition != "attachment"
            and not (filename_given and disposition != "inline")
        ):
            text, used_fallback = _part_text(part)
            fallback = fallback or used_fallback
            add_text(text, texts if content_type == "text/plain" else htmls)
            return
        _as_attachment(part, disposition_inline=disposition == "inline")
        if content_type == "application/ms-tnef" or attachments[-1].filename.lower() == "winmail.dat":
            from raccordo.channels.email.salvage import read_tnef

            tnef = read_tnef(attachments[-1].data)
            if tnef is not None:
                if tnef.text:
                    add_text(tnef.text, texts)
                if tnef.html:
                    add_text(tnef.html, htmls)
                for name, data in tnef.files:
                    attachments.append(ParsedAttachment(shorten_filename(name), _guess_type(name), data))

    def walk(root: Message) -> None:
        """Depth first, in document order, without recursion (a deep tree cannot exhaust the stack)."""
        nonlocal leaves, containers, skipped, security
        stack: list[tuple[bool, Message]] = [(False, root)]  # (as an attachment, part)
        while stack:
            if time.monotonic() > deadline:
                raise ParseTimeout(f"more than {seconds:g} s")
            as_attachment, part = stack.pop()
            if part.is_multipart() and part.get_content_type() != "message/rfc822" and not as_attachment:
                containers += 1
                if containers > MAX_CONTAINERS:
                    skipped += 1
                    continue
                content_type = part.get_content_type()
                children = [p for p in (part.get_payload() or []) if isinstance(p, Message)]
                if content_type == "multipart/signed":
                    security = security or "signed"
                    children = children[:1]  # the signature part is no attachment for the agent
                if content_type == "multipart/encrypted":
                    security = "encrypted"
                    notes.append(("email.note.encrypted", {}))
                if content_type == "multipart/alternative":
                    # Prefer the richest text/plain and text/html alternatives; others (e.g. calendar) are attachments.
                    plain = [c for c in children if c.get_content_type() == "text/plain"]
                    html = [c for c in children if c.get_content_type() == "text/html"]
                    nested = [c for c in children if c.is_multipart()]
                    chosen = {id(c) for c in plain[-1:] + html[-1:] + nested}
                    others = [(True, c) for c in children if id(c) not in chosen and c not in plain and c not in html]
                    ordered = [(False, c) for c in plain[-1:] + html[-1:] + nested] + others
                else:
                    ordered = [(False, c) for c in children]
                stack.extend(reversed(ordered))
                continue
            leaves += 1
            if leaves > MAX_PARTS:
                skipped += 1
                continue
            if as_attachment:
                _as_attachment(part, disposition_inline=False)
                continue
            disposition = str(part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
            leaf(part, disposition)

    def _as_attachment(part: Message, disposition_inline: bool) -> None:
        content_type = part.get_content_type()
        payload = part.get_payload()
        if content_type == "message/rfc822" and isinstance(payload, list) and payload:
            # The forwarded message whole, with its own headers (From, Subject, Date): an .eml to open.
            forwarded = payload[0]
            try:
                data = (
                    forwarded.as_bytes()
                    if isinstance(forwarded, Message)
                    else str(forwarded).encode("utf-8", "replace")
                )
            except Exception:  # noqa: BLE001 - a forwarded message that cannot be serialized: its text
                data = str(forwarded).encode("utf-8", "replace")
        elif part.is_multipart() or isinstance(payload, list):
            try:
                data = part.as_bytes()
            except Exception:  # noqa: BLE001
                data = str(part).encode("utf-8", "replace")
        else:
            data = _part_bytes(part)
        content_id = normalize_message_id(str(part.get("Content-ID") or "")) if part.get("Content-ID") else None
        name = _filename(part, len(attachments) + 1)
        if content_type == "message/rfc822" and not name.lower().endswith(".eml"):
            name = shorten_filename(f"{name.rsplit('.', 1)[0]}.eml")
        inline = bool(content_id) and (disposition_inline or content_type.startswith("image/"))
        attachments.append(ParsedAttachment(name, content_type, data, content_id[1:-1] if content_id else None, inline))

    if too_deep:
        # Deeper than the parser recurses: read the leaf parts between boundary lines, one by one.
        from raccordo.channels.email.salvage import flat_parts

        defects.append("NestingTooDeep")
        notes.append(("email.note.too_deep", {}))
        for flat in flat_parts(raw, deadline):
            leaves += 1
            if leaves > MAX_PARTS:
                skipped += 1
                continue
            leaf(flat, str(flat.get("Content-Disposition") or "").split(";", 1)[0].strip().lower())
    elif message.is_multipart():
        walk(message)
    else:
        content_type = message.get_content_type()
        if message.get_content_maintype() == "multipart":
            # The declared boundary never appears: the body is read as plain text, nothing is lost.
            content_type = "text/plain"
        if content_type in ("text/plain", "text/html") or (
            message.get_content_maintype() in ("text", "multipart") and content_type not in ("text/calendar",)
        ):
            text, fallback = _part_text(message)
            add_text(text, htmls if content_type == "text/html" else texts)
        else:
            leaf(message, "attachment")
    if skipped:
        notes.append(("email.note.parts_skipped", {"count": str(skipped), "limit": str(MAX_PARTS)}))
        defects.append("TooManyParts")

    text = "\n\n".join(t.strip("\r\n") for t in texts if t.strip()).replace("\r\n", "\n")
    html = "\n".join(htmls) if htmls else None
    if not text.strip() and html:
        cleaned = sanitize_html(html)
        text = html_to_text(cleaned) if cleaned else ""
    if time.monotonic() > deadline:
        raise ParseTimeout(f"more than {seconds:g} s")
    automated = detect_automated(message)
    try:
        bounce = detect_bounce(message, text)
    except RecursionError:
        bounce = None
    if bounce is not None and automated is None:
        automated = "bounce"
    return ParsedEmail(
        message_id=message_id,
        message_id_generated=generated,
        subject=header_value(message, "Subject")[:500],
        sender=senders[0] if senders else None,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        reply_to=_addresses(message, "Reply-To"),
        delivered_to=[
            a.email for a in _addresses(message, "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
        ],
        date=date,
        in_reply_to=message_ids(header_value(message, "In-Reply-To"))[:MAX_REFERENCES],
        references=message_ids(header_value(message, "References"))[-MAX_REFERENCES:],
        text=text,
        html=html,
        attachments=attachments,
        automated=automated,
        bounce=bounce,
        defects=defects,
        charset_fallback=fallback,
        notes=notes,
        security=security,
    )


def _guess_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"
