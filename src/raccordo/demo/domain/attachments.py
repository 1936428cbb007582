"""The files customers attach in the demo: a small one-colour PNG (it opens in a browser) and an app log."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime


def png(pixel: bytes) -> bytes:
    """A valid 16x16 PNG of the RGB colour ``pixel``."""
    width = height = 16
    raw = b"".join(b"\x00" + pixel * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def app_log(at: datetime) -> bytes:
    lines = [
        f"{at:%Y-%m-%d %H:%M:%S} INFO  app: avvio versione 5.2.0",
        f"{at:%Y-%m-%d %H:%M:%S} WARN  net: timeout connessione a api.bottega.example (3/3)",
        f"{at:%Y-%m-%d %H:%M:%S} ERROR auth: HTTP 503 Service Unavailable",
    ]
    return ("\n".join(lines) + "\n").encode()
