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

import binascii
import codecs
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.header import Header, decode_header
from email.message import Message
from email.parser import BytesHeaderParser
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
# Caps that keep every step linear and bounded, whatever the sender wrote (what is cut is noted; the raw stays).
MAX_PARTS = 1000  # leaf parts read (bodies and attachments) per message
MAX_CONTAINERS = 2000  # multipart containers walked
MAX_HEADER_CHARS = 16_384  # of one header decoded for display (Subject, a display name)
MAX_ADDRESS_HEADER_CHARS = 65_536  # of one address header (To, Cc) read for addresses
MAX_TEXT_CHARS = 1_000_000  # of one text or HTML body
MAX_FILENAME = 200
MAX_SCAN_CHARS = 65_536  # of a plain-text bounce searched for ids, status and recipient
PARSE_SECONDS = 30.0  # a message that takes longer to read is failed (its raw is kept), never retried
_ASCII = bytes(range(128))


class ParseTimeout(Exception):
    """Reading the message took longer than its time budget."""


def _repair_cp1252(exc: UnicodeError) -> tuple[str, int]:
    # One stray Latin-1/Windows-1252 byte in UTF-8 text: read that byte alone, keep the rest UTF-8.
    if isinstance(exc, UnicodeDecodeError):
        return exc.object[exc.start:exc.end].decode("cp1252", "replace"), exc.end
    raise exc


codecs.register_error("raccordo-cp1252", _repair_cp1252)


def _mostly_utf8(data: bytes) -> bool:
    """Whether most non-ASCII bytes form valid UTF-8 sequences (mixed text is repaired byte by byte)."""
    high = len(data.translate(None, _ASCII))
    valid = data.decode("utf-8", "ignore").encode("utf-8")
    valid_high = len(valid.translate(None, _ASCII))
    return valid_high > 0 and valid_high >= high - valid_high


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, bool]:
    """Text from bytes in a (possibly wrong or unknown) charset; the flag says a fallback was used."""
    charset = (declared or "").strip().strip('"').lower()
    charset = _CHARSET_ALIASES.get(charset, charset)
    if data.isascii() and charset not in ("utf-7", "iso-2022-jp", "hz", "utf-16", "utf-32"):
        return data.decode("ascii").replace("\x00", ""), False
    if charset in _SINGLE_BYTE_LATIN or charset in ("", "utf-8"):
        # Valid UTF-8 with non-ASCII bytes is almost never Latin-1 text: a mislabelled UTF-8 body.
        try:
            return data.decode("utf-8").replace("\x00", ""), bool(declared) and charset != "utf-8"
        except UnicodeDecodeError:
            pass
        if charset == "utf-8" or _mostly_utf8(data):
            # UTF-8 with a few stray single-byte characters (a mixed header, one pasted Latin-1 word).
            return data.decode("utf-8", "raccordo-cp1252").replace("\x00", ""), True
    text, fallback = _decode_strict(data, charset)
    return text.replace("\x00", ""), fallback


def _decode_strict(data: bytes, charset: str) -> tuple[str, bool]:
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
    if not raw.isascii() and any("\udc80" <= ch <= "\udcff" for ch in raw):
        # compat32 keeps raw 8-bit header bytes as surrogate escapes: read them as bytes.
        raw = decode_bytes(raw.encode("utf-8", "surrogateescape"))[0]
    return raw.replace("\x00", "")


# An RFC 2047 encoded word (RFC 2231 language suffix allowed); bounded, so a scan is linear.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]{1,64})(?:\*[^?\s]{0,32})?\?([bBqQ])\?([^?\s]{0,4000})\?=")
_LINE_BREAK = re.compile(r"\r?\n")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "qQ":
            return binascii.a2b_qp(text.encode("ascii", "replace"), header=True)
        data = text.encode("ascii", "replace")
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None


def decode_words(raw: str) -> str:
    """RFC 2047 encoded words decoded one by one: a broken or unknown word stays as written, the others are read.

    Adjacent words in one charset are joined before decoding (a character may be split between
    them) and the whitespace between adjacent words is dropped, as RFC 2047 says."""
    if "=?" not in raw:
        return raw
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    position = 0
    previous_word_end = -1

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset)[0])
        pending, pending_charset = bytearray(), None

    for match in _ENCODED_WORD.finditer(raw):
        between = raw[position:match.start()]
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            flush()
            out.append(between + match.group(0))
            position, previous_word_end = match.end(), -1
            continue
        charset = match.group(1).lower()
        adjacent = previous_word_end == match.start() - len(between) and not between.strip()
        if not adjacent or charset != pending_charset:
            flush()
            if not adjacent:
                out.append(between)
        pending_charset = charset
        pending.extend(data)
        position = previous_word_end = match.end()
    flush()
    out.append(raw[position:])
    return "".join(out)


def _unfold(text: str) -> str:
    if "\n" not in text:
        return text.strip()
    return " ".join(piece for piece in (line.strip() for line in _LINE_BREAK.split(text)) if piece)


def decode_header_value(value: object, limit: int = MAX_HEADER_CHARS) -> str:
    """A header as readable text: RFC 2047 words decoded, raw 8-bit bytes guessed, folding removed."""
    return _unfold(decode_words(raw_header_text(value)[:limit]))


def normalize_message_id(value: str | None) -> str | None:
    if not value:
        return None
    value = value[:MAX_HEADER_CHARS].replace("\x00", "")
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
_BOUNCED_ID = re.compile(r"(?im)^[ \t]*Message-ID:[ \t]*<([^<>\s]{1,900})>")
_BOUNCED_RECIPIENT = re.compile(r"(?<![\w.+-])([\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8})")


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
        text = text[:MAX_SCAN_CHARS]
        originals.extend(f"<{m}>" for m in _BOUNCED_ID.findall(text))
        statuses.extend(_STATUS.findall(text)[:1])
        lines = [line.strip()[:1000] for line in text.splitlines() if line.strip()]
        reasons.append(next((line for line in lines if _STATUS.search(line) or "550" in line or "user unknown" in line.lower()), lines[0] if lines else "")[:500])
        # Bounded pieces, tried only where an "@" is: a long word with no "@" is skipped at once.
        recipients.extend(m.group(1) for m in _BOUNCED_RECIPIENT.finditer(text) if m.group(1).count("@") == 1)
        recipients[:] = recipients[:1]
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
        return [f"<{m}>" for m in _BOUNCED_ID.findall(payload[:MAX_SCAN_CHARS])]
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
    return shorten_filename(name)


def shorten_filename(name: str, limit: int = MAX_FILENAME) -> str:
    """At most ``limit`` characters, keeping the extension (a viewer chooses by it)."""
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and 0 < len(extension) <= 16:
        return f"{stem[:limit - len(extension) - 1].rstrip()}.{extension}"
    return name[:limit]


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


_MULTIPART_HEADER = re.compile(rb"(?im)^content-type:[ \t]*multipart/")
MAX_TREE_CONTAINERS = 100  # more multipart parts than this: read flat (the parser recurses once per level)


def _read_message(raw: bytes) -> tuple[Message, bool]:
    """The MIME tree, or the headers alone when it nests deeper than the parser recurses (flagged)."""
    if len(_MULTIPART_HEADER.findall(raw, 0, len(raw))[:MAX_TREE_CONTAINERS + 1]) > MAX_TREE_CONTAINERS:
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
    senders = _addresses(message, "From") or _addresses(message, "Sender") or _addresses(message, "Reply-To") or _addresses(message, "Return-Path")
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
        if content_type in ("message/rfc822", "message/delivery-status", "text/rfc822-headers", "message/disposition-notification"):
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
        if content_type in ("text/plain", "text/html") and disposition != "attachment" and not (filename_given and disposition != "inline"):
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
            try:
                data = payload[0].as_bytes()
            except Exception:  # noqa: BLE001
                data = str(payload[0]).encode("utf-8", "replace")
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
        if content_type in ("text/plain", "text/html") or message.get_content_maintype() in ("text", "multipart") and content_type not in ("text/calendar",):
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
        notes=notes,
        security=security,
    )


def _guess_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"


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
    # Where the '>' lines that run (with blank lines) to the end begin: found once, so the loop stays linear.
    quoted_tail = len(lines)
    for index in range(len(lines) - 1, -1, -1):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith(">"):
            break
        if stripped:
            quoted_tail = index
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
        if line.startswith(">") and index >= quoted_tail:
            # A block of '>' lines that runs (with blank lines) to the end is the quoted history.
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


# Matched against one opening tag at a time (at most _MAX_TAG characters), never across the document.
_HTML_QUOTE_MARKERS = re.compile(
    r"<(div|blockquote)[^>]*\b(class|id|type|name)\s*=\s*[\"']?(gmail_quote|divRplyFwdMsg|moz-cite-prefix|appendonsend|yahoo_quoted|cite|messageReplySection|OutlookMessageHeader|x_divRplyFwdMsg|protonmail_quote|zmail_extra)\b"
    r"|<hr[^>]*\bid\s*=\s*[\"']?stopSpelling"
    r"|<div[^>]*style\s*=\s*[\"'][^\"']*border-top:\s*solid\s*#(E1E1E1|B5C4DF)",
    re.I,
)
_HTML_QUOTE_TAG = re.compile(r"<(?:div|blockquote|hr)\b", re.I)
_MAX_TAG = 2000


def split_html_reply(html: str) -> tuple[str, str] | None:
    """Raw (unsanitized) HTML split at the first quoted-history marker of a known client, or None."""
    tag_end = -1
    for start in _HTML_QUOTE_TAG.finditer(html):
        position = start.start()
        if tag_end < position:
            tag_end = html.find(">", position)
            if tag_end < 0:
                return None  # no tag is closed after here
        if tag_end - position > _MAX_TAG or not _HTML_QUOTE_MARKERS.match(html, position, tag_end + 1):
            continue
        return (html[:position], html[position:]) if position else None
    return None


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
