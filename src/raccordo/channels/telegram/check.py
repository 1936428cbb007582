"""Trying an inbox's settings against the Bot API, step by step, naming the step and the setting that fails.

Steps: the Bot API answers at the base URL (``reach``), it accepts the token (``token``: ``getMe``,
https://core.telegram.org/bots/api#getme), and the bot's webhook is as the mode needs it
(``webhook``: ``getWebhookInfo``, https://core.telegram.org/bots/api#getwebhookinfo): in webhook
mode set, without a recent delivery error; in polling mode not set (Telegram refuses ``getUpdates``
while a webhook is set).
"""

from __future__ import annotations

from raccordo.channels.base import CheckResult, InboxConfig
from raccordo.channels.telegram.botapi import BotApi, BotApiFailure
from raccordo.channels.telegram.config import POLLING, mode_of


def run_check(inbox: InboxConfig, bot: BotApi) -> list[CheckResult]:
    try:
        me = bot.get_me()
    except BotApiFailure as exc:
        if exc.unreachable:
            return [
                CheckResult(
                    "reach", False, "settings.api_base_url", "telegram.check.unreachable", {"error": exc.description}
                )
            ]
        return [
            CheckResult("reach", True),
            CheckResult("token", False, "secrets.bot_token", "telegram.check.token", {"error": exc.description}),
        ]
    results = [CheckResult("reach", True), CheckResult("token", True, params={"bot": me.get("username", "")})]
    try:
        info = bot.get_webhook_info()
    except BotApiFailure as exc:
        results.append(CheckResult("webhook", False, None, "telegram.check.webhook_info", {"error": exc.description}))
        return results
    url, error = str(info.get("url") or ""), str(info.get("last_error_message") or "")
    if mode_of(inbox) == POLLING:
        if url:
            results.append(CheckResult("webhook", False, "settings.mode", "telegram.check.webhook_while_polling"))
        else:
            results.append(CheckResult("webhook", True))
    elif not url:
        results.append(CheckResult("webhook", False, "settings.mode", "telegram.check.webhook_missing"))
    elif error:
        results.append(
            CheckResult("webhook", False, None, "telegram.check.webhook_error", {"error": error, "url": url})
        )
    else:
        results.append(CheckResult("webhook", True, params={"url": url}))
    return results
