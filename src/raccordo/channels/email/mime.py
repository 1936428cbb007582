"""Email rules with no I/O: parse real-world MIME into a normalized email, detect auto-replies
and bounces, split quoted history and signatures, sign and read the reply-address token.

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
  (RFC 3834 ``Auto-Submitted`` and the vendor headers: ``X-Autoreply``, ``Precedence``,
  Exchange's ``X-Auto-Response-Suppress``);
- **quoted history and signatures** in Italian and English clients (Gmail, Outlook,
  Apple Mail, Thunderbird): ``email-reply-parser`` is unmaintained since 2020, handles
  only English plain text and drops what it removes, while we keep both parts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.header import Header, decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from raccordo.record.domain.content import html_to_text, sanitize_html

# Charsets that mail clients mislabel or that Python names differently; supersets are safe.
_CHARSET_ALIASES = {
    "us-ascii": "cp1252", "ascii": "cp1252", "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "iso8859-1": "cp1252",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "shift_jis": "cp932", "shift-jis": "cp932", "x-sjis": "cp932", "sjis": "cp932",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "iso-8859-8-i": "iso-8859-8", "x-mac-roman": "mac_roman", "utf8": "utf-8", "unicode-1-1-utf-7": "utf-7",
    "unknown-8bit": "utf-8", "x-unknown": "utf-8", "unknown": "utf-8", "default": "utf-8",
}
_SINGLE_BYTE_LATIN = {"cp1252", "iso-8859-15", "windows-1252", "iso-8859-2", "cp1250"}
_MSGID = re.compile(r"<([^<>\s]{1,900})>")
MAX_REFERENCES = 30
MAX_PARTS = 500


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, bool]:
    """Text from bytes in a (possibly wrong or unknown) charset; the flag says a fallback was used."""
    charset = (declared or "").strip().strip('"').lower()
    charset = _CHARSET_ALIASES.get(charset, charset)
    if charset in _SINGLE_BYTE_LATIN or charset == "":
        # Valid UTF-8 with non-ASCII bytes is almost never Latin-1 text: a mislabelled UTF-8 body.
        if any(b > 0x7F for b in data):
            try:
                return data.decode("utf-8"), bool(declared)
            except UnicodeDecodeError:
                pass
    if charset:
        try:
            return data.decode(charset), False
        except (LookupError, UnicodeDecodeError):
            pass
    for fallback in ("utf-8", "cp1252"):
        try:
            return data.decode(fallback), True
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), True


def raw_header_text(value: object) -> str:
    """A header's text before RFC 2047 decoding, with raw 8-bit bytes read in their likely charset."""
    if value is None:
        return ""
    if isinstance(value, Header):
        return "".join(decode_bytes(chunk, None)[0] if isinstance(chunk, bytes) else chunk for chunk, _ in decode_header(value))
    raw = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        # compat32 keeps raw 8-bit header bytes as surrogate escapes: read them as bytes.
        raw = decode_bytes(raw.encode("ascii", "surrogateescape"))[0]
    return raw


def decode_header_value(value: object) -> str:
    """A header as readable text: RFC 2047 words decoded, raw 8-bit bytes guessed, folding removed."""
    raw = raw_header_text(value)
    try:
        parts = decode_header(raw)
    except Exception:  # noqa: BLE001 - a malformed encoded word: show the header as it is
        parts = [(raw, None)]
    try:
        # make_header keeps the space between an encoded word and plain text, as RFC 2047 wants.
        text = str(make_header(parts))
    except Exception:  # noqa: BLE001 - an unknown or lying charset: decode chunk by chunk
        text = "".join(decode_bytes(chunk, charset)[0] if isinstance(chunk, bytes) else chunk for chunk, charset in parts)
    return re.sub(r"\s*\r?\n\s*", " ", text).strip()


def normalize_message_id(value: str | None) -> str | None:
    if not value:
        return None
    match = _MSGID.search(value)
    if match:
        return f"<{match.group(1)}>"
    token = value.strip().split()[0] if value.strip() else ""
    return f"<{token.strip('<>')}>" if token and "@" in token else None


def message_ids(value: str | None) -> list[str]:
    return [f"<{m}>" for m in _MSGID.findall(value or "")]


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
class Bounce:
    """A delivery status notification: which of our messages failed, and why."""

    original_message_ids: list[str]
    recipients: list[str]
    status: str  # e.g. 5.1.1
    reason: str
    permanent: bool


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
            values.append(raw_header_text(raw))
    result = []
    try:
        pairs = getaddresses(values)
    except Exception:  # noqa: BLE001 - a header the address parser chokes on
        pairs = [parseaddr(v) for v in values]
    for display, address in pairs:
        address = address.strip().strip("<>").strip()
        if "@" not in address or " " in address or len(address) > 320:
            continue
        result.append(Address(decode_header_value(display) if display else "", address))
    return result


def _header(message: Message, name: str) -> str:
    try:
        return decode_header_value(message.get(name))
    except Exception:  # noqa: BLE001
        return ""


def detect_automated(message: Message) -> str | None:
    """Why this message is machine-generated (an auto-reply, vacation notice, bulk mail), or None."""
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autorespond-Id", "X-Vacation", "X-Mailer-Autoreply"):
        if message.get(name) is not None:
            return f"{name}: {_header(message, name)}"
    precedence = _header(message, "Precedence").lower()
    if precedence in ("bulk", "junk", "auto_reply", "auto-reply"):
        return f"Precedence: {precedence}"
    suppress = _header(message, "X-Auto-Response-Suppress").lower()
    if "oof" in suppress or suppress == "all" or "autoreply" in suppress:
        return f"X-Auto-Response-Suppress: {suppress}"
    if _header(message, "Return-Path").strip() == "<>":
        return "Return-Path: <>"
    return None


_BOUNCE_SUBJECT = re.compile(r"(?i)(undeliver|delivery (status notification|failure|has failed)|mail delivery failed|returned mail|non[- ]?remis|mancato recapito|impossibile recapitare|failure notice)")
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def detect_bounce(message: Message, text: str) -> Bounce | None:
    """An RFC 3464 DSN (``multipart/report; report-type=delivery-status``) or a plain-text bounce."""
    content_type = message.get_content_type()
    report_type = (message.get_param("report-type") or "")
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
                    blocks = [message_from_bytes(b.encode("utf-8", "replace"), policy=compat32) for b in re.split(r"\r?\n\r?\n", payload) if b.strip()]
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
        sender = _header(message, "From").lower()
        subject = _header(message, "Subject")
        if not (("mailer-daemon" in sender or "postmaster" in sender) and _BOUNCE_SUBJECT.search(subject)):
            return None
        for part in message.walk():
            if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
                originals.extend(_original_ids(part))
        originals.extend(f"<{m}>" for m in re.findall(r"(?im)^\s*Message-ID:\s*<([^<>\s]+)>", text))
        statuses.extend(_STATUS.findall(text)[:1])
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        reasons.append(next((line for line in lines if _STATUS.search(line) or "550" in line or "user unknown" in line.lower()), lines[0] if lines else "")[:500])
        recipients.extend(re.findall(r"<?([\w.+-]+@[\w.-]+\.\w+)>?", text)[:1])
    originals.extend(message_ids(_header(message, "In-Reply-To")))
    originals.extend(message_ids(_header(message, "References")))
    unique = list(dict.fromkeys(originals))
    status = statuses[0] if statuses else ""
    reason = "; ".join(dict.fromkeys(r for r in reasons if r)) or _header(message, "Subject")
    return Bounce(unique, recipients, status, reason[:1000], permanent=not status.startswith("4"))


def _original_ids(part: Message) -> list[str]:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        inner = payload[0]
        return [m for m in [normalize_message_id(str(inner.get("Message-ID") or ""))] if m]
    if isinstance(payload, str):
        return [f"<{m}>" for m in re.findall(r"(?im)^Message-ID:\s*<([^<>\s]+)>", payload)]
    return []


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
    return name[:300]


def _part_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - undecodable transfer encoding: keep the raw text
        data = None
    if data is None:
        payload = part.get_payload()
        if isinstance(payload, str):
            return payload.encode("ascii", "surrogateescape")
        return b""
    return data


def _part_text(part: Message) -> tuple[str, bool]:
    return decode_bytes(_part_bytes(part), part.get_content_charset())


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse raw RFC 5322 bytes. Never raises on malformed input; what could not be read is in ``defects``."""
    message = message_from_bytes(raw, policy=compat32)
    defects = [type(d).__name__ for d in message.defects]
    declared_id = normalize_message_id(str(message.get("Message-ID") or ""))
    generated = declared_id is None
    message_id = declared_id or f"<{hashlib.sha256(raw).hexdigest()[:40]}@raccordo.generated>"
    senders = _addresses(message, "From") or _addresses(message, "Sender") or _addresses(message, "Reply-To") or _addresses(message, "Return-Path")
    date = None
    try:
        raw_date = message.get("Date")
        if raw_date:
            date = parsedate_to_datetime(str(raw_date))
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
    parts = 0

    def visit(part: Message, in_alternative: bool) -> None:
        nonlocal fallback, parts
        parts += 1
        if parts > MAX_PARTS:
            return
        content_type = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
        if content_type == "message/rfc822":
            _as_attachment(part, disposition_inline=False)
            return
        if part.is_multipart():
            children = [p for p in (part.get_payload() or []) if isinstance(p, Message)]
            if content_type == "multipart/alternative":
                # Prefer the richest text/plain and text/html alternatives; others (e.g. calendar) are attachments.
                plain = [c for c in children if c.get_content_type() == "text/plain"]
                html = [c for c in children if c.get_content_type() == "text/html"]
                nested = [c for c in children if c.is_multipart()]
                for child in plain[-1:] + html[-1:]:
                    visit(child, True)
                for child in nested:
                    visit(child, True)
                for child in children:
                    if child not in plain and child not in html and child not in nested:
                        _as_attachment(child, disposition_inline=False)
                return
            for child in children:
                visit(child, in_alternative)
            return
        if content_type in ("message/rfc822", "message/delivery-status", "text/rfc822-headers", "message/disposition-notification"):
            _as_attachment(part, disposition_inline=False)
            return
        filename_given = bool(part.get_param("name") or part.get_param("filename", header="content-disposition"))
        if content_type in ("text/plain", "text/html") and disposition != "attachment" and not (filename_given and disposition != "inline"):
            text, used_fallback = _part_text(part)
            fallback = fallback or used_fallback
            (texts if content_type == "text/plain" else htmls).append(text)
            return
        _as_attachment(part, disposition_inline=disposition == "inline")

    def _as_attachment(part: Message, disposition_inline: bool) -> None:
        if part.is_multipart():
            data = part.as_bytes() if hasattr(part, "as_bytes") else str(part).encode()
        elif part.get_content_type() == "message/rfc822" or isinstance(part.get_payload(), list):
            try:
                data = part.get_payload()[0].as_bytes()  # type: ignore[index]
            except Exception:  # noqa: BLE001
                data = str(part.get_payload()).encode("utf-8", "replace")
        else:
            data = _part_bytes(part)
        content_id = normalize_message_id(str(part.get("Content-ID") or "")) if part.get("Content-ID") else None
        content_type = part.get_content_type()
        name = _filename(part, len(attachments) + 1)
        if content_type == "message/rfc822" and not name.lower().endswith(".eml"):
            name = f"{name.rsplit('.', 1)[0]}.eml"
        inline = bool(content_id) and (disposition_inline or content_type.startswith("image/"))
        attachments.append(ParsedAttachment(name, content_type, data, content_id[1:-1] if content_id else None, inline))

    if message.is_multipart():
        visit(message, False)
    else:
        content_type = message.get_content_type()
        if message.get_content_maintype() == "multipart":
            # The declared boundary never appears: the body is read as plain text, nothing is lost.
            content_type = "text/plain"
        if content_type in ("text/plain", "text/html") or message.get_content_maintype() in ("text", "multipart") and content_type not in ("text/calendar",):
            text, fallback = _part_text(message)
            (htmls if content_type == "text/html" else texts).append(text)
        else:
            _as_attachment(message, disposition_inline=False)

    text = "\n\n".join(t.strip("\r\n") for t in texts if t.strip()).replace("\r\n", "\n")
    html = "\n".join(htmls) if htmls else None
    if not text.strip() and html:
        cleaned = sanitize_html(html)
        text = html_to_text(cleaned) if cleaned else ""
    automated = detect_automated(message)
    bounce = detect_bounce(message, text)
    if bounce is not None and automated is None:
        automated = "bounce"
    return ParsedEmail(
        message_id=message_id,
        message_id_generated=generated,
        subject=_header(message, "Subject")[:500],
        sender=senders[0] if senders else None,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        reply_to=_addresses(message, "Reply-To"),
        delivered_to=[a.email for a in _addresses(message, "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")],
        date=date,
        in_reply_to=message_ids(_header(message, "In-Reply-To"))[:MAX_REFERENCES],
        references=message_ids(_header(message, "References"))[-MAX_REFERENCES:],
        text=text,
        html=html,
        attachments=attachments,
        automated=automated,
        bounce=bounce,
        defects=defects,
        charset_fallback=fallback,
    )


# --- quoted history and signatures ---------------------------------------------------------------

_QUOTE_HEADERS = [
    re.compile(r"^\s*(On|Il giorno|Il|Le|Am|El|Em|Op)\s.{4,300}(wrote|ha scritto|a écrit|schrieb|escribió|escreveu|schreef)\s*:\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*(Original Message|Messaggio originale|Forwarded message|Messaggio inoltrato|Ursprüngliche Nachricht)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{20,}\s*$"),
    re.compile(r"^\s*(From|Da|De|Von)\s*:\s*.+$", re.I),
]
_SIGNATURE_LINES = re.compile(r"^\s*(sent from my|inviato da(l mio)? (iphone|ipad|android|samsung|outlook|smartphone)|get outlook for|scarica outlook per|envoyé de mon)", re.I)


@dataclass(frozen=True)
class SplitText:
    main: str
    quoted: str
    signature: str


def split_reply(text: str) -> SplitText:
    """Split a plain-text reply into what the customer wrote now, their signature, and the quoted history."""
    lines = text.replace("\r\n", "\n").split("\n")
    quote_at = len(lines)
    for index, line in enumerate(lines):
        two = f"{line} {lines[index + 1]}" if index + 1 < len(lines) else line
        if _QUOTE_HEADERS[3].match(line):
            # An Outlook header block: From:, then Sent:/Date:/Inviato: within the next lines.
            following = "\n".join(lines[index + 1:index + 4])
            if re.search(r"(?im)^\s*(Sent|Date|Inviato|Data|Envoyé|Gesendet)\s*:", following):
                quote_at = index
                break
            continue
        if any(p.match(line) for p in _QUOTE_HEADERS[:3]) or (_QUOTE_HEADERS[0].match(two) and not line.startswith(">")):
            quote_at = index
            break
        if line.startswith(">"):
            # A block of '>' lines that runs (with blank lines) to the end is the quoted history.
            rest = [candidate for candidate in lines[index:] if candidate.strip()]
            if rest and all(candidate.lstrip().startswith(">") for candidate in rest):
                quote_at = index
                break
    head, quoted = lines[:quote_at], lines[quote_at:]
    signature_at = len(head)
    for index, line in enumerate(head):
        if line.rstrip() in ("--", "-- ") or _SIGNATURE_LINES.match(line):
            signature_at = index
            break
    main = "\n".join(head[:signature_at]).strip()
    signature = "\n".join(head[signature_at:]).strip()
    return SplitText(main, "\n".join(quoted).strip(), signature)


_HTML_QUOTE_MARKERS = re.compile(
    r"<(div|blockquote)[^>]*\b(class|id|type|name)\s*=\s*[\"']?(gmail_quote|divRplyFwdMsg|moz-cite-prefix|appendonsend|yahoo_quoted|cite|messageReplySection|OutlookMessageHeader|x_divRplyFwdMsg|protonmail_quote|zmail_extra)\b"
    r"|<hr[^>]*\bid\s*=\s*[\"']?stopSpelling"
    r"|<div[^>]*style\s*=\s*[\"'][^\"']*border-top:\s*solid\s*#(E1E1E1|B5C4DF)",
    re.I,
)


def split_html_reply(html: str) -> tuple[str, str] | None:
    """Raw (unsanitized) HTML split at the first quoted-history marker of a known client, or None."""
    match = _HTML_QUOTE_MARKERS.search(html)
    if not match or match.start() == 0:
        return None
    return html[: match.start()], html[match.start():]


# --- reply-address token ------------------------------------------------------------------------

_TOKEN = re.compile(r"\+r-(\d{1,18})-([0-9a-f]{12})@", re.I)
_ID_TOKEN = re.compile(r"^<raccordo\.[0-9a-zA-Z]+\.(\d{1,18})-([0-9a-f]{12})@", re.I)


def conversation_token(secret: str, conversation_id: int) -> str:
    digest = hmac.new(secret.encode(), f"conversation:{conversation_id}".encode(), hashlib.sha256).hexdigest()[:12]
    return f"{conversation_id}-{digest}"


def reply_address(address: str, secret: str, conversation_id: int) -> str:
    """``support@x`` → ``support+r-<conversation>-<signature>@x``: replies find their conversation even without headers."""
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}+r-{conversation_token(secret, conversation_id)}@{domain}"


def outbound_message_id(key: str, secret: str, conversation_id: int, domain: str) -> str:
    """The Message-ID of a reply: fixed by the outbox key (a retry reuses it) and carrying the signed conversation token."""
    return f"<raccordo.{re.sub(r'[^0-9a-zA-Z]', '', key)[:20]}.{conversation_token(secret, conversation_id)}@{domain}>"


def conversation_from_tokens(secret: str, addresses: list[str], referenced_ids: list[str]) -> int | None:
    """The conversation named by a correctly signed token in a recipient address or a referenced Message-ID."""
    candidates = [m.groups() for a in addresses if (m := _TOKEN.search(a))]
    candidates += [m.groups() for r in referenced_ids if (m := _ID_TOKEN.match(r))]
    for conversation, signature in candidates:
        expected = conversation_token(secret, int(conversation)).split("-", 1)[1]
        if hmac.compare_digest(expected, signature.lower()):
            return int(conversation)
    return None
