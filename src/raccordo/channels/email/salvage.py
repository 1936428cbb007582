"""What ``domain/mail`` reads from mail the standard parser cannot: TNEF (``winmail.dat``) and MIME
trees nested deeper than the parser recurses. No I/O; linear in the input and bounded."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

# tnefparse reads object by object; larger files stay a plain attachment (the raw is kept anyway).
MAX_TNEF_BYTES = 5 * 1024 * 1024
_BOUNDARY_LINE = re.compile(rb"(?m)^--[^\r\n]{1,200}\r?$")


@dataclass
class TnefContent:
    text: str = ""
    html: str = ""
    files: list[tuple[str, bytes]] = field(default_factory=list)


def _text(value: object) -> str:
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        for charset in ("utf-8", "cp1252"):
            try:
                return value.decode(charset).replace("\x00", "")
            except UnicodeDecodeError:
                continue
    return str(value or "").replace("\x00", "")


def read_tnef(data: bytes) -> TnefContent | None:
    """The body and files of an Outlook TNEF attachment (``tnefparse``), or None when it is not one."""
    if len(data) > MAX_TNEF_BYTES or len(data) < 6:
        return None
    from tnefparse import TNEF

    try:
        # A memoryview: tnefparse slices the rest of the data at every object, which copies bytes (quadratic).
        tnef = TNEF(memoryview(data), do_checksum=False)
    except Exception:  # noqa: BLE001 - not TNEF, or a broken one: the attachment stays as it is
        return None
    content = TnefContent(_text(tnef.body), _text(tnef.htmlbody))
    for index, attachment in enumerate(tnef.attachments, start=1):
        if isinstance(getattr(attachment, "_name", None), memoryview):
            attachment._name = attachment._name.tobytes()
        try:
            name = _text(attachment.long_filename() or attachment.name) or f"attachment-{index}"
        except Exception:  # noqa: BLE001
            name = f"attachment-{index}"
        payload = getattr(attachment, "data", b"") or b""
        name = name.strip().replace("/", "_").replace("\\", "_") or f"attachment-{index}"
        content.files.append((name, bytes(payload)))
    return content


def flat_parts(raw: bytes, deadline: float) -> Iterator[Message]:
    """The leaf parts of a MIME tree too deep to parse as a tree: each piece between two boundary
    lines is read alone; containers (multipart pieces) are skipped."""
    body_at = raw.find(b"\r\n\r\n")
    body_at = raw.find(b"\n\n") if body_at < 0 else body_at
    if body_at < 0:
        return
    pieces = _BOUNDARY_LINE.split(raw[body_at:])
    for piece in pieces[1:]:
        if time.monotonic() > deadline:
            return
        piece = piece.lstrip(b"\r\n")
        if not piece.strip():
            continue
        part = message_from_bytes(piece, policy=compat32)
        if part.get_content_maintype() == "multipart" or not part.keys():
            continue
        yield part
