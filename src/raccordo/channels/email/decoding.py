"""Decoding real-world mail text, with no I/O: bytes in the declared charset when it works, else
UTF-8, else Windows-1252 (what mail clients and browsers do), repaired per stray byte rather than
re-read whole; RFC 2047 encoded words decoded one by one (a broken word leaves the others readable)
with a length cap, so decoding is linear on hostile input; header values and Message-IDs read
leniently (a header that cannot be read is empty, never an error)."""

from __future__ import annotations

import binascii
import re
from email.header import Header, decode_header
from email.message import Message

MAX_HEADER_CHARS = 16_384  # of one header decoded for display (Subject, a display name)
_MSGID = re.compile(r"<([^<>\s]{1,900})>")
_ASCII = bytes(range(128))


# Charsets that mail clients mislabel or that Python names differently; supersets are safe.
_CHARSET_ALIASES = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso8859-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "x-mac-roman": "mac_roman",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
    "unknown": "utf-8",
    "default": "utf-8",
}


_SINGLE_BYTE_LATIN = {"cp1252", "iso-8859-15", "windows-1252", "iso-8859-2", "cp1250"}


def repair_cp1252(exc: UnicodeError) -> tuple[str, int]:
    # One stray Latin-1/Windows-1252 byte in UTF-8 text: read that byte alone, keep the rest UTF-8.
    if isinstance(exc, UnicodeDecodeError):
        return exc.object[exc.start : exc.end].decode("cp1252", "replace"), exc.end
    raise exc


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
        return "".join(
            decode_bytes(chunk, None)[0] if isinstance(chunk, bytes) else chunk for chunk, _ in decode_header(value)
        )
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
        between = raw[position : match.start()]
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


def header_value(message: Message, name: str) -> str:
    """A header decoded for reading, or "" when it cannot be read (malformed mail never raises here)."""
    try:
        return decode_header_value(message.get(name))
    except Exception:  # noqa: BLE001 - any malformed header reads as absent
        return ""


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
