"""Generators of hostile email messages (no binaries in the repository): each one reproduces an input
that once pinned a worker (quadratic parsing), crashed the parser or lost content silently."""

from __future__ import annotations

import base64


def _headers(
    subject: str = "Hostile", sender: str = "Mario Rossi <mario.rossi@customer.example>", extra: str = ""
) -> bytes:
    return (
        f"From: {sender}\r\nTo: support@acme.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <hostile-{abs(hash(subject)) % 10**9}@customer.example>\r\n"
        f"Date: Tue, 02 Dec 2025 10:00:00 +0100\r\nMIME-Version: 1.0\r\n{extra}"
    ).encode("utf-8", "surrogateescape")


def subject_whitespace(size: int = 1_000_000) -> bytes:
    return _headers("Ciao" + " " * size + "fine") + b"\r\nTesto.\r\n"


def unclosed_div(size: int = 600_000) -> bytes:
    html = b"<p>Ciao</p>" + b"<div a" * (size // 6)
    return _headers("Unclosed div", extra="Content-Type: text/html; charset=utf-8\r\n") + b"\r\n" + html


def mailer_daemon_word(size: int = 300_000) -> bytes:
    return (
        _headers("Undelivered Mail Returned to Sender", sender="MAILER-DAEMON <mailer-daemon@mx.example>")
        + b"\r\n"
        + b"x" * size
        + b"\r\n"
    )


def quoted_lines(count: int = 40_000) -> bytes:
    return _headers("Quoted") + b"\r\n" + b">\r\n" * count + b"plain line at the end\r\n"


def unterminated_words(count: int = 15_000) -> bytes:
    return _headers("=?utf-8?q?abc " * count) + b"\r\nTesto.\r\n"


def nested(levels: int, text: str = "Il testo in fondo") -> bytes:
    head = b""
    tail = b""
    for level in range(levels):
        head += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
        tail = f"\r\n--b{level}--\r\n".encode() + tail
    return _headers("Nested") + head + f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n".encode() + tail


def many_attachments(count: int = 3000) -> bytes:
    parts = [b"--sep\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nVedi allegati.\r\n"]
    for index in range(count):
        parts.append(
            (
                "--sep\r\nContent-Type: application/octet-stream\r\n"
                f'Content-Disposition: attachment; filename="f{index}.bin"\r\n\r\nx{index}\r\n'
            ).encode()
        )
    return (
        _headers("Many", extra='Content-Type: multipart/mixed; boundary="sep"\r\n')
        + b"\r\n"
        + b"".join(parts)
        + b"--sep--\r\n"
    )


def nul_bytes() -> bytes:
    return (
        _headers("Nul\x00 subject", extra="Content-Type: text/plain; charset=utf-8\r\n")
        + b"\r\nPrima\x00dopo \x00\x00 fine.\r\n"
    )


def attachment(size: int, filename: str = "grande.pdf", text: str = "Il testo si legge.") -> bytes:
    data = base64.encodebytes(b"%PDF" + b"0" * size).replace(b"\n", b"\r\n")
    return (
        _headers(f"Allegato {size}", extra='Content-Type: multipart/mixed; boundary="sep"\r\n')
        + b"\r\n--sep\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + text.encode()
        + b"\r\n--sep\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        + f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n'.encode()
        + data
        + b"\r\n--sep--\r\n"
    )


def long_address_list(count: int = 20_000) -> bytes:
    to = ", ".join(f"Persona {n} <p{n}@example.com>" for n in range(count))
    return (
        _headers(
            "Tanti destinatari",
            extra=f"Cc: {to}\r\nReferences: {' '.join(f'<r{n}@x.example>' for n in range(count))}\r\n",
        )
        + b"\r\nTesto.\r\n"
    )


def long_line(size: int = 2_000_000) -> bytes:
    return _headers("Long line") + b"\r\n" + b"parola " * (size // 7) + b"\r\n"


def _tnef_object(level: int, name: int, kind: int, payload: bytes) -> bytes:
    import struct

    return struct.pack("<BHHI", level, name, kind, len(payload)) + payload + struct.pack("<H", sum(payload) & 0xFFFF)


def tnef_winmail(
    body: str = "Perché i prezzi sono cambiati?",
    filename: str = "listino.pdf",
    data: bytes = b"%PDF-1.4 listino",
    padding: int = 0,
) -> bytes:
    """An Outlook message whose body and file travel only inside winmail.dat (TNEF), built by hand; ``padding``
    tiny objects make it hostile (a parser that copies the rest of the data at every object is quadratic)."""
    import struct

    obj = _tnef_object
    tnef = (
        struct.pack("<IH", 0x223E9F78, 1)
        + obj(1, 0x800C, 0x0002, body.encode("cp1252") + b"\x00")
        + obj(1, 0x8004, 2, b"x") * padding
        + obj(2, 0x9002, 0x0006, b"\x00" * 14)
        + obj(2, 0x8010, 0x0001, filename.encode() + b"\x00")
        + obj(2, 0x800F, 0x0006, data)
        + obj(1, 0x9006, 0x0008, b"\x00\x00\x01\x00")
        + b"\x00" * 16
    )
    encoded = base64.encodebytes(tnef).replace(b"\n", b"\r\n")
    return (
        _headers("Listino", extra='Content-Type: multipart/mixed; boundary="sep"\r\n')
        + b"\r\n--sep\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\r\n"
        + b'--sep\r\nContent-Type: application/ms-tnef; name="winmail.dat"\r\nContent-Transfer-Encoding: base64\r\n'
        + b'Content-Disposition: attachment; filename="winmail.dat"\r\n\r\n'
        + encoded
        + b"\r\n--sep--\r\n"
    )


GENERATED = {
    "subject_whitespace_1mb": subject_whitespace,
    "unclosed_div_600kb": unclosed_div,
    "mailer_daemon_300kb_word": mailer_daemon_word,
    "quoted_40000_lines": quoted_lines,
    "unterminated_words_210kb": unterminated_words,
    "nested_2000": lambda: nested(2000),
    "nested_800": lambda: nested(800),
    "attachments_3000": many_attachments,
    "nul_bytes": nul_bytes,
    "address_list_20000": long_address_list,
    "long_line_2mb": long_line,
    "tnef_100000_objects": lambda: tnef_winmail(padding=100_000),
}
