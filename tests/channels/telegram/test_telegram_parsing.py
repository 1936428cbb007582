"""Telegram updates parsed by the channel alone (no database): every documented kind, entities rendered
safely (UTF-16 offsets), the secret token header, contact sharing, callback queries and edits."""

from __future__ import annotations

import json

import pytest

from raccordo.channels.base import ChannelRejected, DeliveryError, InboundRequest, InboxConfig
from raccordo.channels.telegram import outbound
from raccordo.channels.telegram.botapi import BotApiFailure
from raccordo.channels.telegram.channel import TelegramChannel
from raccordo.channels.telegram.entities import render_html
from tests.channels.telegram.payloads import CHAT, CUSTOMER, SAMPLES, message_update

SECRET = "s3cret_Token-for-tests"
INBOX = InboxConfig(1, "tg", {"mode": "webhook", "language": "en"}, {"bot_token": "1:x", "webhook_secret": SECRET})


def _request(update: dict, secret: str | None = SECRET) -> InboundRequest:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return InboundRequest.of("POST", "https://example.test/hook", headers, json.dumps(update).encode())


def _parse(update: dict):
    return TelegramChannel().parse_inbound(INBOX, _request(update))


def test_the_secret_token_is_required_and_compared():
    update = message_update(1, 10, SAMPLES["text"])
    assert len(_parse(update)) == 1
    for given, key in ((None, "telegram.secret_missing"), ("wrong", "telegram.secret_mismatch")):
        with pytest.raises(ChannelRejected) as refused:
            TelegramChannel().parse_inbound(INBOX, _request(update, given))
        assert refused.value.status == 401 and refused.value.key == key
    # A polled update was fetched with the bot token: it carries no secret and needs none.
    polled = InboundRequest.polled("telegram:getUpdates:tg", json.dumps(update).encode())
    assert len(TelegramChannel().parse_inbound(INBOX, polled)) == 1
    with pytest.raises(ChannelRejected) as malformed:
        TelegramChannel().parse_inbound(INBOX, _request({"message": {}}))
    assert malformed.value.status == 422


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_sample_update_is_parsed(kind):
    (event,) = _parse(message_update(7, 42, SAMPLES[kind]))
    assert event.provider_message_id == f"{CHAT['id']}:42"
    assert event.identities[0].kind == "telegram" and event.identities[0].value == str(CUSTOMER["id"])
    assert event.contact_name == "Giulia Bianchi" and event.contact_language == "it"
    details = event.metadata["telegram"]
    assert details["user"]["username"] == "giuliab"
    assert event.text
    if kind in ("photo", "document", "voice", "video", "sticker"):
        assert event.metadata["telegram_media_pending"] is True
        (media,) = details["media"]
        assert media["kind"] == kind and media["status"] == "pending"
    if kind == "photo":
        assert details["media"][0]["file_id"] == "large-file-id"  # the largest size
        assert event.text == "Il pacco rovinato"
    if kind == "venue":
        assert "Duomo" in event.text and details["location"]["latitude"] == 45.4642
    if kind == "poll":
        assert details["type"] == "unsupported" and "poll" in event.text


def test_entities_become_safe_html_measured_in_utf16():
    text = "😀 ciao <b> link"
    entities = [
        {"offset": 3, "length": 4, "type": "bold"},  # the emoji counts two code units
        {"offset": 3, "length": 4, "type": "italic"},
        {"offset": 12, "length": 4, "type": "text_link", "url": "javascript:alert(1)"},
        {"offset": 8, "length": 3, "type": "text_link", "url": "https://example.com/?a=1&b=2"},
    ]
    rendered = render_html(text, entities)
    assert rendered is not None
    assert "<strong><em>ciao</em></strong>" in rendered
    assert "&lt;" in rendered and "javascript" not in rendered
    assert 'href="https://example.com/?a=1&amp;b=2"' in rendered
    assert render_html("plain", [{"offset": 0, "length": 5, "type": "mention"}]) is None
    (event,) = _parse(message_update(1, 1, SAMPLES["text"]))
    assert event.html is not None and event.html.startswith("<strong>Buongiorno</strong>")


def test_sharing_ones_own_contact_brings_the_phone_number_and_anothers_does_not():
    (own,) = _parse(message_update(1, 1, SAMPLES["contact"]))
    assert [(i.kind, i.value) for i in own.identities] == [
        ("telegram", str(CUSTOMER["id"])),
        ("phone", "+393471234567"),
    ]
    other = {"contact": {"phone_number": "+393339998888", "first_name": "Marco", "user_id": 999}}
    (shared,) = _parse(message_update(2, 2, other))
    assert [i.kind for i in shared.identities] == ["telegram"] and "Marco" in shared.text


def test_a_callback_query_is_a_message_threaded_to_ours_and_answered_in_the_webhook_reply():
    query = {
        "id": "4382bfdwdsb323b2d9",
        "from": CUSTOMER,
        "chat_instance": "-1",
        "data": "order_ok",
        "message": {
            "message_id": 77,
            "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
            "chat": CHAT,
            "date": 1733650000,
            "text": "Confermi?",
            "reply_markup": {"inline_keyboard": [[{"text": "Sì, confermo", "callback_data": "order_ok"}]]},
        },
    }
    channel = TelegramChannel()
    request = _request({"update_id": 9, "callback_query": query})
    (event,) = channel.parse_inbound(INBOX, request)
    assert event.text == "Sì, confermo" and event.in_reply_to == (f"{CHAT['id']}:77",)
    assert event.provider_message_id == "callback:4382bfdwdsb323b2d9"
    answer = channel.webhook_response(INBOX, request, [event])
    assert answer is not None
    assert json.loads(answer.body) == {"method": "answerCallbackQuery", "callback_query_id": "4382bfdwdsb323b2d9"}


def test_an_edit_names_the_stored_message_and_group_chats_are_ignored():
    edited = {
        "update_id": 3,
        "edited_message": {**message_update(0, 42, {"text": "nuovo"})["message"], "edit_date": 1733650100},
    }
    (event,) = _parse(edited)
    assert event.provider_message_id == f"{CHAT['id']}:42" and event.edit_id == "1733650100" and event.text == "nuovo"
    group = message_update(4, 5, {"text": "hi"})
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Clienti"}
    assert _parse(group) == []


def test_provider_errors_map_to_retry_or_permanent_failures():
    limited = outbound.delivery_error(
        BotApiFailure("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    )
    assert not limited.permanent and limited.retry_after == 7 and limited.reason == "telegram.error.rate_limited"
    blocked = outbound.delivery_error(BotApiFailure("sendMessage", 403, "Forbidden: bot was blocked by the user"))
    assert blocked.permanent and blocked.reason == "telegram.error.blocked"
    missing = outbound.delivery_error(BotApiFailure("sendMessage", 400, "Bad Request: chat not found"))
    assert missing.permanent and missing.reason == "telegram.error.chat_not_found"
    for failure in (
        BotApiFailure("sendMessage", 502, "Bad Gateway"),
        BotApiFailure("sendMessage", None, "ConnectError"),
    ):
        error = outbound.delivery_error(failure)
        assert isinstance(error, DeliveryError) and not error.permanent


def test_inline_keyboards_and_markdown_escaping():
    keyboard = outbound.inline_keyboard({"telegram": {"inline_keyboard": [[{"text": "Sì", "callback_data": "yes"}]]}})
    assert keyboard == {"inline_keyboard": [[{"text": "Sì", "callback_data": "yes"}]]}
    with pytest.raises(outbound.OutboundInvalid):
        outbound.inline_keyboard({"telegram": {"inline_keyboard": [[{"text": "x", "callback_data": "y" * 65}]]}})
    assert outbound.escape_markdown_v2("1.5 * (a_b)!") == "1\\.5 \\* \\(a\\_b\\)\\!"


def test_an_inbox_without_a_bot_token_fails_for_good_without_calling_telegram():
    from raccordo.channels.base import InboundIdentity, OutboundMessage

    message = OutboundMessage("k", 1, 1, InboundIdentity("telegram", "42"), "ciao", None, [], None, {})
    empty = InboxConfig(2, "tg2", {"api_base_url": "http://127.0.0.1:9"}, {})
    with pytest.raises(DeliveryError) as failed:
        TelegramChannel().send(empty, message)
    assert failed.value.permanent and failed.value.reason == "telegram.error.token"
