"""The error a server-rendered form shows next to a field."""

from __future__ import annotations

import html as htmllib
import re


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(name)}-error" role="alert">([^<]*)</p>', html)
    assert found, f"no error next to {name}"
    return htmllib.unescape(found.group(1))
