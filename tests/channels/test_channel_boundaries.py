"""Nothing outside ``channels/`` knows a channel by name: it asks the channel's declared features.

The source outside ``src/raccordo/channels/`` is parsed (not grepped: comments and docstrings may
name channels) and may not:

- compare something named like a channel (``inbox.channel``, ``channel_kind``) with a channel kind
  literal, or test its membership in literals (``inbox.channel == "widget"``);
- hold a dict keyed by two or more channel kinds (``CHANNEL_FORMS = {"email": ..., "api": ...}``);
- import a channel subpackage (``raccordo.channels.email``), in code or in a module-path string;
- read a channel's capabilities with ``getattr`` (anywhere, ``channels/`` included).

Identity kinds are not channel kinds: ``identities["email"]`` or ``kind == "email"`` are about
a contact's address, so only names that say "channel" are checked. The allow-list is short:

- ``demo/``: the demo's content is a story told on many channels, some of them history-only
  (WhatsApp, SMS) and not installed; channel kinds are its data, as they would be in a data file.
- ``platform/store/migrations/``: past schema history, never edited.
"""

from __future__ import annotations

import ast
from pathlib import Path

from raccordo.bootstrap.channels import builtin_channel_modules
from raccordo.channels.base import channel_kinds

SRC = Path(__file__).resolve().parents[2] / "src" / "raccordo"
ALLOWED = ("channels/", "demo/", "platform/store/migrations/")


def _kinds() -> set[str]:
    return set(channel_kinds())


def _subpackages() -> set[str]:
    return {name.rsplit(".", 1)[0] for name in builtin_channel_modules()}


def _names_a_channel(node: ast.AST) -> bool:
    text = ast.unparse(node).lower()
    return "channel" in text


def _literals(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


def violations(
    source: str, where: str, kinds: set[str], subpackages: set[str], *, check_names: bool = True
) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = f"{where}:{getattr(node, 'lineno', '?')}"
        if check_names and isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = [s for s in sides if _names_a_channel(s) and not _literals(s)]
            literal_kinds = set().union(*(_literals(s) for s in sides)) & kinds
            if named and literal_kinds:
                found.append(f"{line}: compares a channel with {sorted(literal_kinds)}: {ast.unparse(node)}")
        elif check_names and isinstance(node, ast.Dict):
            keyed = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)} & kinds
            if len(keyed) >= 2:
                found.append(f"{line}: a dict keyed by channel kinds {sorted(keyed)}")
        elif check_names and isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.module == "raccordo.channels":
                modules += [f"raccordo.channels.{a.name}" for a in node.names]
            for module in modules:
                if any(module == p or module.startswith(p + ".") for p in subpackages):
                    found.append(f"{line}: imports the channel module {module}")
        elif check_names and isinstance(node, ast.Constant) and isinstance(node.value, str):
            if any(node.value == p or node.value.startswith(p + ".") for p in subpackages):
                found.append(f"{line}: names the channel module {node.value}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and node.args
        ):
            target = ast.unparse(node.args[0]).lower()
            if "channel" in target or "implementation" in target:
                found.append(f"{line}: reads a channel's capability with {node.func.id}: {ast.unparse(node)}")
    return found


def test_no_channel_name_outside_channels():
    kinds, subpackages = _kinds(), _subpackages()
    assert {
        "api",
        "email",
        "widget",
    } <= kinds and "raccordo.channels.email" in subpackages  # the check sees the channels
    problems: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        inside = relative.startswith(ALLOWED)
        # Inside channels/ a channel may name itself; getattr on channels is refused everywhere.
        problems += violations(path.read_text(encoding="utf-8"), relative, kinds, subpackages, check_names=not inside)
    assert not problems, "channel-specific code outside channels/:\n" + "\n".join(problems)


def test_the_check_catches_what_it_forbids():
    kinds, subpackages = {"api", "email", "widget"}, {"raccordo.channels.email", "raccordo.channels.widget"}
    offending = {
        'if inbox.channel == "widget": pass': "compares a channel",
        'ok = row.channel in ("email", "api")': "compares a channel",
        'FORMS = {"email": 1, "widget": 2}': "dict keyed by channel kinds",
        "from raccordo.channels.email.poller import MailService": "imports the channel module",
        "from raccordo.channels import widget": "imports the channel module",
        'MODULES = ("raccordo.channels.email.receiver",)': "names the channel module",
        'flag = getattr(channel, "mailbox", False)': "getattr",
    }
    for source, reason in offending.items():
        problems = violations(source, "x.py", kinds, subpackages)
        assert problems and reason in problems[0], (source, problems)
    harmless = (
        'value = identities["email"]',  # an identity kind, not a channel
        'if kind == "email": pass',
        'labels = {"email": "Email", "phone": "Phone"}',  # one channel kind among identity kinds
        "from raccordo.channels.base import get_channel",
        "if channel.supports(Feature.POLLING): pass",
    )
    for source in harmless:
        assert violations(source, "x.py", kinds, subpackages) == [], source
