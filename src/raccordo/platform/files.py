"""Attachment files on disk under the data directory, content-addressed by SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, tenant_id: int, data: bytes) -> tuple[str, str]:
        """Store bytes; return (relative path, sha256). Writing the same content twice is a no-op."""
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{tenant_id}/{digest[:2]}/{digest}"
        target = self.root / relative
        if not target.exists():
            # Owner-only directories (0700); mkstemp already creates the file 0600.
            directory = self.root
            for part in (None, str(tenant_id), digest[:2]):
                directory = directory / part if part else directory
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Write then rename, so a crash never leaves a truncated file under the final name.
            fd, tmp = tempfile.mkstemp(dir=target.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        return relative, digest

    def path(self, relative: str) -> Path:
        resolved = (self.root / relative).resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise ValueError("attachment path escapes the data directory")
        return resolved
