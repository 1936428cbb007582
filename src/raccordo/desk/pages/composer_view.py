"""The files posted with a reply or a note, as the services take them. No routes here (they are
in ``composer.py``), so ``pages.py`` can import it; what the composer and the customer panel show
is read by ``desk.services.desk_views``."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import UploadFile

from raccordo.platform.errors import InvalidInput
from raccordo.record.services.reply import UploadedFile


def form_uploads(form: dict[str, Any], name: str = "attachments") -> list[UploadedFile]:
    """The files posted under ``name`` (one or several); empty file inputs are ignored."""
    value = form.get(name)
    items = value if isinstance(value, list) else [value] if value is not None else []
    uploads = []
    for item in items:
        if isinstance(item, UploadFile) and item.filename:
            item.file.seek(0)
            uploads.append(
                UploadedFile(
                    item.filename,
                    (item.content_type or "application/octet-stream").split(";", 1)[0].strip().lower(),
                    item.file.read(),
                )
            )
    return uploads


def form_content_attributes(form: dict[str, Any]) -> dict[str, Any] | None:
    """The structured content the composer's template picker posts (``content_attributes``, a JSON
    object such as ``{"template": {"name", "language", "variables"}}``); None when the field is empty."""
    raw = str(form.get("content_attributes") or "").strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidInput("reply.content_invalid", field="content_attributes") from None
    if not isinstance(value, dict):
        raise InvalidInput("reply.content_invalid", field="content_attributes")
    return value
