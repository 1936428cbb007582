"""Every user-visible message exists in Italian and English with the same placeholders; every setting is documented."""

from __future__ import annotations

import re
import string
from pathlib import Path

from raccordo.platform.config import Settings
from raccordo.platform.i18n import catalog, pick_language, translate

SRC = Path(__file__).parents[2] / "src" / "raccordo"
ROOT = Path(__file__).parents[2]
_RAISED = re.compile(
    r'(?:InvalidInput|NotFound|Forbidden|Unauthorized|Conflict|TooManyRequests|ChannelRejected|translate)\(\s*"([a-z_]+\.[a-z_.]+)"'
)
# "team" and "agenda" are Italian too; languages are named in their own language; Italian says
# "password"; brand names are the same everywhere.
SAME_IN_BOTH = {
    "noun.teams",
    "ui.nav.agenda",
    "ui.profile.language.it",
    "ui.profile.language.en",
    "ui.profile.password",
} | {f"ui.channel.{brand}" for brand in ("whatsapp", "sms", "telegram", "messenger", "instagram")}
_RETURNED = re.compile(r'return "((?:signature)\.[a-z_]+)"')


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogs_have_the_same_keys_and_placeholders():
    english, italian = catalog("en"), catalog("it")
    assert set(english) == set(italian)
    for key in english:
        assert _placeholders(english[key]) == _placeholders(italian[key]), key
        assert english[key] != italian[key] or key in SAME_IN_BOTH, f"{key} is not translated"


def test_every_key_used_in_the_code_is_translated():
    used = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used |= set(_RAISED.findall(text)) | set(_RETURNED.findall(text))
    missing = sorted(key for key in used if key not in catalog("en"))
    assert not missing, f"untranslated keys: {missing}"
    assert len(used) > 40


def test_language_choice():
    assert pick_language("it-IT,it;q=0.9,en;q=0.8") == "it"
    assert pick_language("de-DE,en;q=0.5") == "en"
    assert pick_language("it", preferred="en") == "en"
    assert translate("login.rate_limited", "it", retry_after=30) == "Troppi accessi falliti: riprova tra 30 secondi."


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"RACCORDO_{name.upper()}" in doc, name
