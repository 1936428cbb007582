"""Opt-out and opt-in keywords of an SMS inbox. Pure.

Carriers and the providers' own compliance rules expect STOP-style words to end marketing
messages (Twilio's default opt-out keywords:
https://help.twilio.com/articles/223134027-Twilio-support-for-opt-out-keywords-SMS-STOP-filtering-);
Italian customers write ARRESTA, CANCELLA or DISISCRIVI. A message is a keyword when its whole
text, trimmed and without final punctuation, is one (case and accents do not matter): "stop"
is, "please stop calling me at work" is not, so an agent reads the latter and decides.
"""

from __future__ import annotations

import unicodedata

OPT_OUT = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "ARRESTA", "CANCELLA", "DISISCRIVI", "BASTA"}
)
OPT_IN = frozenset({"START", "UNSTOP", "YES", "SUBSCRIBE", "ISCRIVI", "RIATTIVA", "AVVIA"})

OPTED_OUT = "opt_out"
OPTED_IN = "opt_in"


def fold(word: str) -> str:
    """Upper case, accents and spaces removed: ``Disiscrivì`` → ``DISISCRIVI``, ``opt out`` → ``OPTOUT``."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if ch.isalnum()).upper()


def _own(settings: dict[str, object], name: str) -> set[str]:
    words = settings.get(name)
    return {fold(str(w)) for w in words if fold(str(w))} if isinstance(words, list) else set()


def keyword_lists(settings: dict[str, object]) -> tuple[frozenset[str], frozenset[str]]:
    """The built-in lists plus the inbox's own (``opt_out_keywords`` / ``opt_in_keywords``, one per line)."""
    return OPT_OUT | _own(settings, "opt_out_keywords"), OPT_IN | _own(settings, "opt_in_keywords")


def classify(text: str, settings: dict[str, object]) -> tuple[str, str] | None:
    """``(opt_out | opt_in, the keyword)`` when the whole message is one keyword, else ``None``."""
    word = fold(text.strip().rstrip(".!?;,"))
    if not word or len(word) > 20:
        return None
    out, back = keyword_lists(settings)
    if word in out:
        return OPTED_OUT, word
    if word in back:
        return OPTED_IN, word
    return None
