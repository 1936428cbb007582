"""The Telegram channel (Bot API).

Inbound, two ways, chosen by the inbox's ``mode``: in webhook mode Telegram POSTs each ``Update``
to the inbox's webhook URL, registered with ``setWebhook`` and its ``secret_token`` when the inbox
is saved (``provision``), and every request must carry that token in
``X-Telegram-Bot-Api-Secret-Token`` (https://core.telegram.org/bots/api#setwebhook); in polling
mode the worker fetches updates with ``getUpdates`` (``service.py``), for installations Telegram
cannot reach. Updates are normalized in ``updates.py``; files are downloaded after the message is
stored (``media.py``).

Outbound: ``sendMessage``, ``sendPhoto`` / ``sendDocument`` and inline keyboards (``outbound.py``).
Setup and limits: ``docs/channels/telegram.md``.
"""

from __future__ import annotations

import hmac
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raccordo.channels.base import (
    Capabilities,
    Channel,
    ChannelRejected,
    CheckResult,
    DeliveryError,
    DeliveryReport,
    Feature,
    InboundEvent,
    InboundRequest,
    InboxConfig,
    OutboundMessage,
    WebhookResponse,
)
from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.settings_form import Choice, FieldKind, Label, SettingsField, SettingsForm
from raccordo.channels.telegram import outbound, updates
from raccordo.channels.telegram.botapi import DEFAULT_BASE_URL, BotApi, BotApiFailure
from raccordo.channels.telegram.check import run_check
from raccordo.channels.telegram.config import POLLING, WEBHOOK, bot_for, language_of, mode_of
from raccordo.channels.telegram.service import OFFSET_KEY, TelegramService
from raccordo.platform.errors import InvalidInput

if TYPE_CHECKING:
    from raccordo.channels.base import Poller
    from raccordo.platform.runtime import Runtime

KIND = "telegram"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
# BotFather's tokens: the bot's numeric id, a colon, then letters, digits, "_" and "-".
_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")

SETTINGS_FORM = SettingsForm(
    fields=(
        SettingsField(
            "bot_token",
            Label("Bot token", "Token del bot"),
            FieldKind.SECRET,
            required=True,
            hint=Label(
                "The token BotFather gave when the bot was created (/newbot, or /token to see it again).",
                "Il token che BotFather ha dato alla creazione del bot (/newbot, oppure /token per rivederlo).",
            ),
        ),
        SettingsField(
            "mode",
            Label("How messages arrive", "Come arrivano i messaggi"),
            FieldKind.CHOICE,
            default=WEBHOOK,
            choices=(
                Choice(
                    WEBHOOK, Label("Webhook (Telegram calls this server)", "Webhook (Telegram chiama questo server)")
                ),
                Choice(
                    POLLING, Label("Polling (this server asks Telegram)", "Polling (questo server chiede a Telegram)")
                ),
            ),
            hint=Label(
                "Webhook needs a public HTTPS address; polling works from any computer with Internet access.",
                "Il webhook richiede un indirizzo HTTPS pubblico; il polling funziona da qualsiasi computer connesso.",
            ),
        ),
        SettingsField(
            "api_base_url",
            Label("Bot API base URL", "URL di base della Bot API"),
            FieldKind.URL,
            default=DEFAULT_BASE_URL,
            hint=Label(
                "Telegram's; a local Bot API server's, or the provider sandbox's for tests.",
                "Quello di Telegram; quello di un Bot API server locale, o del sandbox per le prove.",
            ),
        ),
        SettingsField(
            "language",
            Label("Language of notes on messages", "Lingua delle note sui messaggi"),
            FieldKind.CHOICE,
            default="it",
            choices=(Choice("it", Label("Italian", "Italiano")), Choice("en", Label("English", "Inglese"))),
        ),
    ),
    shown_once=(
        SettingsField(
            "webhook_secret",
            Label("Webhook secret token", "Token segreto del webhook"),
            FieldKind.SECRET,
            generated=True,
            hint=Label(
                "Sent to Telegram with setWebhook; Telegram sends it back on every update.",
                "Inviato a Telegram con setWebhook; Telegram lo rimanda con ogni aggiornamento.",
            ),
        ),
    ),
    # Kept by the poller (the next getUpdates offset), not edited in the form.
    extra_settings=(OFFSET_KEY,),
)


class TelegramChannel(Channel):
    kind = KIND
    capabilities = Capabilities(text=True, html=False, default_capacity=4)
    features = frozenset({Feature.WEBHOOK, Feature.PROVISIONING, Feature.POLLING, Feature.CONNECTION_CHECK})
    reply_identity_kinds = (updates.IDENTITY_KIND,)
    # One file per message (its message id is the one tracked); bots upload documents up to 50 MB.
    composer = ComposerRules(
        max_length=outbound.MAX_TEXT,
        attachments=True,
        max_attachments=1,
        max_attachment_bytes=outbound.MAX_DOCUMENT_BYTES,
    )
    settings_form = SETTINGS_FORM

    def validate_settings(
        self, settings: dict[str, Any], secrets: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        settings, secrets = self.settings_form.validate(settings, secrets)
        token = secrets.get("bot_token")
        if token and not _TOKEN.match(token):
            raise InvalidInput("telegram.token_format", field="secrets.bot_token")
        return settings, secrets

    # --- inbound ----------------------------------------------------------------------------------

    def parse_inbound(self, inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
        if request.method != "POLL":
            # Only pushed updates carry the secret; a polled one was fetched by us with the token.
            given = request.headers.get(SECRET_HEADER, "")
            expected = inbox.secrets.get("webhook_secret", "")
            if not given:
                raise ChannelRejected("telegram.secret_missing", status=401)
            if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
                raise ChannelRejected("telegram.secret_mismatch", status=401)
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ChannelRejected("channel.payload_invalid", status=422, field="body", reason=str(exc)[:200]) from None
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ChannelRejected("telegram.not_an_update", status=422, field="update_id")
        return list(updates.parse_update(data, language_of(inbox)))

    def webhook_response(
        self,
        inbox: InboxConfig,
        request: InboundRequest,
        events: list[InboundEvent | DeliveryReport],
    ) -> WebhookResponse | None:
        """A callback query is answered in the webhook's response, which Telegram runs as a Bot API call
        (https://core.telegram.org/bots/api#making-requests-when-getting-updates); else an empty 200."""
        for event in events:
            query = (
                (event.metadata.get("telegram") or {}).get("callback_query")
                if isinstance(event, InboundEvent)
                else None
            )
            if query:
                body = {"method": "answerCallbackQuery", "callback_query_id": query["id"]}
                return WebhookResponse(json.dumps(body).encode(), "application/json")
        return WebhookResponse(b"{}", "application/json")

    # --- provisioning -----------------------------------------------------------------------------

    def provision(self, inbox: InboxConfig, webhook_url: str) -> None:
        bot = bot_for(inbox)
        if mode_of(inbox) == POLLING:
            bot.delete_webhook()  # Telegram answers getUpdates with 409 while a webhook is set
            return
        bot.set_webhook(webhook_url, inbox.secrets.get("webhook_secret", ""), updates.ALLOWED_UPDATES)

    def unprovision(self, inbox: InboxConfig) -> None:
        bot_for(inbox).delete_webhook()

    # --- outbound ---------------------------------------------------------------------------------

    def can_deliver(self, settings: dict[str, Any], secret_names: frozenset[str] = frozenset()) -> bool:
        # Every Bot API call carries the bot's token.
        return "bot_token" in secret_names

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        if message.recipient is None:
            raise DeliveryError("no Telegram user to send to", permanent=True, reason="telegram.error.no_chat")
        if not inbox.secrets.get("bot_token"):
            # An inbox with no bot yet (the demo's history-only row): nothing to call Telegram with.
            raise DeliveryError("the inbox has no bot token", permanent=True, reason="telegram.error.token")
        chat_id = message.recipient.value
        bot = bot_for(inbox)
        try:
            keyboard = outbound.inline_keyboard(message.attributes)
            if message.attachments:
                result = self._send_file(bot, chat_id, message, keyboard)
            else:
                params: dict[str, Any] = {"chat_id": chat_id, "text": message.text}
                if keyboard:
                    params["reply_markup"] = keyboard
                result = bot.call("sendMessage", params)
        except outbound.OutboundInvalid as exc:
            raise DeliveryError(str(exc), permanent=True, reason="telegram.error.keyboard") from None
        except BotApiFailure as exc:
            raise outbound.delivery_error(exc) from None
        return updates.provider_id(chat_id, (result or {}).get("message_id"))

    def _send_file(self, bot: BotApi, chat_id: str, message: OutboundMessage, keyboard: dict[str, Any] | None) -> Any:
        attachment = message.attachments[0]
        data = Path(attachment.path).read_bytes()
        photo = outbound.is_photo(attachment.content_type, len(data))
        caption = message.text if len(message.text) <= outbound.MAX_CAPTION else ""
        if message.text.strip() and not caption:
            bot.call("sendMessage", {"chat_id": chat_id, "text": message.text})
        field, method = ("photo", "sendPhoto") if photo else ("document", "sendDocument")
        params: dict[str, Any] = {"chat_id": chat_id, "caption": caption or None, "reply_markup": keyboard}
        return bot.call(method, params, files={field: (attachment.filename, data, attachment.content_type)})

    # --- connection check, background -------------------------------------------------------------

    def check(self, inbox: InboxConfig) -> list[CheckResult]:
        return run_check(inbox, bot_for(inbox))

    def poller(self, rt: Runtime) -> Poller | None:
        return TelegramService(rt)


CHANNEL = TelegramChannel
