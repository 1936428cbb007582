"""The inbox settings forms of Messenger and Instagram Direct: the same Meta app settings, a different id."""

from __future__ import annotations

from raccordo.channels.domain.settings_form import Choice, FieldKind, Label, SettingsField, SettingsForm
from raccordo.channels.messenger.graph import DEFAULT_BASE_URL

PAGE_ID = SettingsField(
    "page_id",
    Label("Facebook page ID", "ID della pagina Facebook"),
    required=True,
    hint=Label(
        "Page → About → Page transparency, or Meta Business Suite → Settings: the page's numeric ID.",
        "Pagina → Informazioni → Trasparenza della pagina, o Meta Business Suite → Impostazioni: l'ID numerico.",
    ),
)
ACCOUNT_ID = SettingsField(
    "account_id",
    Label("Instagram professional account ID", "ID dell'account professionale Instagram"),
    required=True,
    hint=Label(
        "The account's numeric ID (GET /{page-id}?fields=instagram_business_account); webhooks name it.",
        "L'ID numerico dell'account (GET /{page-id}?fields=instagram_business_account); i webhook lo indicano.",
    ),
)


def _common(token_hint: Label) -> tuple[SettingsField, ...]:
    return (
        SettingsField(
            "human_agent",
            Label("The page may use the HUMAN_AGENT tag", "La pagina può usare il tag HUMAN_AGENT"),
            FieldKind.BOOLEAN,
            default=False,
            hint=Label(
                "Only when Meta approved the Human Agent permission for the app: agents may then answer for 7 days"
                " after the customer's last message instead of 24 hours.",
                "Solo se Meta ha approvato l'autorizzazione Human Agent per l'app: gli operatori possono allora"
                " rispondere per 7 giorni dall'ultimo messaggio del cliente invece di 24 ore.",
            ),
        ),
        SettingsField(
            "graph_base_url",
            Label("Graph API base URL", "URL di base della Graph API"),
            FieldKind.URL,
            default=DEFAULT_BASE_URL,
            hint=Label(
                "Meta's, with the API version; the provider sandbox's address for tests.",
                "Quello di Meta, con la versione dell'API; l'indirizzo del sandbox per le prove.",
            ),
        ),
        SettingsField(
            "language",
            Label("Language of notes on messages", "Lingua delle note sui messaggi"),
            FieldKind.CHOICE,
            default="it",
            choices=(Choice("it", Label("Italian", "Italiano")), Choice("en", Label("English", "Inglese"))),
            hint=Label(
                "Attachment labels and download problems are written on messages in this language.",
                "Le etichette degli allegati e i problemi di download sono scritti sui messaggi in questa lingua.",
            ),
        ),
        SettingsField(
            "access_token",
            Label("Page access token", "Token di accesso della pagina"),
            FieldKind.SECRET,
            required=True,
            hint=token_hint,
        ),
        SettingsField(
            "app_secret",
            Label("App secret", "Chiave segreta dell'app"),
            FieldKind.SECRET,
            required=True,
            hint=Label(
                "App dashboard → Settings → Basic; it signs the webhook requests.",
                "Dashboard dell'app → Impostazioni → Di base; firma le richieste del webhook.",
            ),
        ),
    )


VERIFY_TOKEN = SettingsField(
    "verify_token", Label("Webhook verify token", "Token di verifica del webhook"), FieldKind.SECRET, generated=True
)

MESSENGER_FORM = SettingsForm(
    fields=(
        PAGE_ID,
        *_common(
            Label(
                "A long-lived page token with pages_messaging and pages_manage_metadata.",
                "Un token di pagina di lunga durata con pages_messaging e pages_manage_metadata.",
            )
        ),
    ),
    shown_once=(VERIFY_TOKEN,),
)

INSTAGRAM_FORM = SettingsForm(
    fields=(
        ACCOUNT_ID,
        PAGE_ID,
        *_common(
            Label(
                "The linked page's long-lived token with instagram_basic, instagram_manage_messages and"
                " pages_manage_metadata.",
                "Il token di lunga durata della pagina collegata con instagram_basic, instagram_manage_messages e"
                " pages_manage_metadata.",
            )
        ),
    ),
    shown_once=(VERIFY_TOKEN,),
)
