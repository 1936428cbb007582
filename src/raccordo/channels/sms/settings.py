"""The SMS inbox's settings form, and the rules between its fields.

One form for both providers: the provider choice says which fields are required. The sender is an
E.164 number or an alphanumeric alias (up to 11 letters and digits, at least one letter: the GSM
limit); Italian alphanumeric senders must be registered in AGCOM's alias registry (delibera
42/13/CIR), and the registration reference is kept on the inbox (``alias_registration``).
"""

from __future__ import annotations

import re
from typing import Any

from raccordo.channels.domain.settings_form import Choice, FieldKind, Label, SettingsField, SettingsForm
from raccordo.platform.errors import InvalidInput

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_ALIAS = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 .&-]{1,11}$")
MAX_SEGMENTS_LIMIT = 10

SETTINGS_FORM = SettingsForm(
    fields=(
        SettingsField(
            "provider",
            Label("Provider", "Fornitore"),
            FieldKind.CHOICE,
            default="twilio",
            choices=(Choice("twilio", Label("Twilio", "Twilio")), Choice("vonage", Label("Vonage", "Vonage"))),
        ),
        SettingsField(
            "sender",
            Label("Sender (number or alias)", "Mittente (numero o alias)"),
            required=True,
            hint=Label(
                "An E.164 number (+393331234567) or an alphanumeric alias of up to 11 characters.",
                "Un numero E.164 (+393331234567) o un alias alfanumerico di massimo 11 caratteri.",
            ),
        ),
        SettingsField(
            "alias_registration",
            Label("AGCOM alias registry reference", "Riferimento del registro alias AGCOM"),
            hint=Label(
                "Italian alphanumeric senders must be registered in the AGCOM alias registry.",
                "I mittenti alfanumerici italiani devono essere registrati nel registro alias AGCOM.",
            ),
        ),
        SettingsField(
            "max_segments",
            Label("Most SMS segments per message", "Numero massimo di parti SMS per messaggio"),
            FieldKind.INTEGER,
            default=5,
            hint=Label(
                "Each segment is billed: 160 GSM-7 or 70 Unicode characters for one, 153 or 67 each beyond.",
                "Ogni parte è fatturata: 160 caratteri GSM-7 o 70 Unicode per una, 153 o 67 ciascuna oltre.",
            ),
        ),
        SettingsField(
            "opt_out_keywords",
            Label("More opt-out keywords", "Altre parole chiave di disiscrizione"),
            FieldKind.LINES,
            default=[],
            hint=Label(
                "Besides STOP, STOPALL, UNSUBSCRIBE, ARRESTA, CANCELLA, DISISCRIVI; one per line.",
                "Oltre a STOP, STOPALL, UNSUBSCRIBE, ARRESTA, CANCELLA, DISISCRIVI; una per riga.",
            ),
        ),
        SettingsField(
            "opt_in_keywords",
            Label("More opt-in keywords", "Altre parole chiave di iscrizione"),
            FieldKind.LINES,
            default=[],
            hint=Label(
                "Besides START, UNSTOP, ISCRIVI; one per line.", "Oltre a START, UNSTOP, ISCRIVI; una per riga."
            ),
        ),
        SettingsField(
            "language",
            Label("Language of status explanations", "Lingua delle spiegazioni sugli stati"),
            FieldKind.CHOICE,
            default="it",
            choices=(Choice("it", Label("Italian", "Italiano")), Choice("en", Label("English", "Inglese"))),
        ),
        SettingsField("twilio_account_sid", Label("Twilio Account SID", "Account SID di Twilio")),
        SettingsField(
            "twilio_messaging_service_sid",
            Label("Twilio Messaging Service SID (optional)", "SID del Messaging Service di Twilio (facoltativo)"),
        ),
        SettingsField(
            "status_callback_url",
            Label("Status callback URL (Twilio)", "URL per gli stati (Twilio)"),
            FieldKind.URL,
            hint=Label(
                "This inbox's webhook URL: Twilio posts delivery statuses there.",
                "L'URL del webhook di questa casella: Twilio vi invia gli stati di consegna.",
            ),
        ),
        SettingsField(
            "twilio_api_base_url",
            Label("Twilio API base URL", "URL di base dell'API Twilio"),
            FieldKind.URL,
            default="https://api.twilio.com",
        ),
        SettingsField("twilio_auth_token", Label("Twilio auth token", "Auth token di Twilio"), FieldKind.SECRET),
        SettingsField("vonage_api_key", Label("Vonage API key", "API key di Vonage")),
        SettingsField(
            "vonage_application_id",
            Label("Vonage application ID (JWT auth)", "ID dell'applicazione Vonage (autenticazione JWT)"),
        ),
        SettingsField(
            "vonage_api_base_url",
            Label("Vonage API base URL", "URL di base dell'API Vonage"),
            FieldKind.URL,
            default="https://api.nexmo.com",
        ),
        SettingsField("vonage_api_secret", Label("Vonage API secret", "API secret di Vonage"), FieldKind.SECRET),
        SettingsField(
            "vonage_private_key",
            Label("Vonage application private key", "Chiave privata dell'applicazione Vonage"),
            FieldKind.SECRET,
        ),
        SettingsField(
            "vonage_signature_secret",
            Label("Vonage signature secret", "Signature secret di Vonage"),
            FieldKind.SECRET,
            hint=Label(
                "Dashboard → Settings: signs the webhooks (JWT, HS256).",
                "Dashboard → Impostazioni: firma i webhook (JWT, HS256).",
            ),
        ),
    )
)


def _require(settings: dict[str, Any], secrets: dict[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if not (settings.get(name) or secrets.get(name)):
            where = "secrets" if name in SECRET_NAMES else "settings"
            raise InvalidInput("sms.setting_required", field=f"{where}.{name}", provider=settings["provider"])


SECRET_NAMES = frozenset(f.name for f in SETTINGS_FORM.fields if f.secret)


def check_settings(validated: tuple[dict[str, Any], dict[str, str]]) -> tuple[dict[str, Any], dict[str, str]]:
    """The provider's own fields present, a sender that is a number or a valid alias, a sane segment limit."""
    settings, secrets = validated
    sender = str(settings.get("sender") or "").strip()
    if not (_E164.match(sender) or _ALIAS.match(sender)):
        raise InvalidInput("sms.sender_invalid", field="settings.sender", value=sender)
    settings["sender"] = sender
    limit = settings.get("max_segments")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_SEGMENTS_LIMIT:
        raise InvalidInput("sms.max_segments", field="settings.max_segments", limit=MAX_SEGMENTS_LIMIT)
    if settings["provider"] == "twilio":
        _require(settings, secrets, ("twilio_account_sid", "twilio_auth_token"))
    else:
        _require(settings, secrets, ("vonage_signature_secret",))
        if not settings.get("vonage_application_id"):
            _require(settings, secrets, ("vonage_api_key", "vonage_api_secret"))
        else:
            _require(settings, secrets, ("vonage_private_key",))
    return settings, secrets


def sms_credentials_set(settings: dict[str, Any], secret_names: frozenset[str]) -> bool:
    """Whether the inbox's provider has what it sends with (``secret_names``: the secrets set, no values):
    Twilio the account SID and auth token, Vonage an application and its private key or the API key and
    secret (``vonage.authorization``)."""
    if settings.get("provider") != "vonage":  # as ``config.provider_of``: Twilio unless Vonage
        return bool(settings.get("twilio_account_sid")) and "twilio_auth_token" in secret_names
    if settings.get("vonage_application_id") and "vonage_private_key" in secret_names:
        return True
    return bool(settings.get("vonage_api_key")) and "vonage_api_secret" in secret_names
