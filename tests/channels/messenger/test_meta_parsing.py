"""Every documented Messenger and Instagram sample payload parsed, signatures checked, Send API errors
mapped and payloads built, without a database or a network."""

from __future__ import annotations

import pytest

from raccordo.channels.base import (
    ChannelRejected,
    DeliveryError,
    DeliveryReport,
    InboundEvent,
    InboundIdentity,
    InboundRequest,
    InboxConfig,
    OutboundMessage,
)
from raccordo.channels.instagram.channel import InstagramChannel
from raccordo.channels.messenger import errors, outbound
from raccordo.channels.messenger.channel import MessengerChannel
from raccordo.channels.messenger.inbound import MEDIA_PENDING, recipient_for
from raccordo.platform.errors import InvalidInput
from raccordo.record.domain.identities import normalize_identity
from tests.channels.messenger.payloads import (
    IGSID,
    INSTAGRAM_SAMPLES,
    MESSENGER_SAMPLES,
    PSID,
    envelope,
    event,
    signed,
)

PAGE, IG_ACCOUNT, SECRET = "1067280970047460", "17841400008460056", "app-secret"
MESSENGER = InboxConfig(1, "m", {"page_id": PAGE, "language": "en"}, {"app_secret": SECRET})
INSTAGRAM = InboxConfig(2, "i", {"page_id": PAGE, "account_id": IG_ACCOUNT, "language": "en"}, {"app_secret": SECRET})


def _parse(channel, inbox, payload) -> list[InboundEvent | DeliveryReport]:
    body, headers = signed(SECRET, payload)
    return channel.parse_inbound(inbox, InboundRequest.of("POST", "https://x/", headers, body))


def _one(channel, inbox, kind, sample, account, sender):
    (parsed,) = _parse(channel, inbox, envelope(kind, account, event(account, sender, **sample)))
    return parsed


@pytest.mark.parametrize("name", sorted(MESSENGER_SAMPLES))
def test_every_messenger_sample_is_parsed(name):
    parsed = _one(MessengerChannel(), MESSENGER, "messenger", MESSENGER_SAMPLES[name], PAGE, PSID)
    if name in ("delivery", "read"):
        assert isinstance(parsed, DeliveryReport) and parsed.status == ("delivered" if name == "delivery" else "read")
        assert parsed.watermark is not None and parsed.watermark.year == 2016
        assert parsed.recipient is not None and parsed.recipient.value == f"{PAGE}:{PSID}"
        return
    assert isinstance(parsed, InboundEvent)
    assert [(i.kind, i.value) for i in parsed.identities] == [("messenger", f"{PAGE}:{PSID}")]
    assert parsed.text and parsed.sent_at is not None
    details = parsed.metadata["meta"]
    expected_text = {
        "text": "hello, world!",
        "quick_reply": "hello, world!",
        "image": "[Image]",
        "video": "[Video]",
        "audio": "[Audio message]",
        "file": "la fattura",
        "fallback": "[fallback] A shared link",
        "reply": "and this one?",
        "postback": "Get Started",
        "reaction": "[Reaction \U0001f604 to a message]",
        "unreaction": "[Reaction removed]",
    }
    assert parsed.text == expected_text[name]
    if name in ("image", "video", "audio", "file"):
        assert parsed.metadata[MEDIA_PENDING] is True and details["media"][0]["kind"] == name
        assert details["media"][0]["status"] == "pending" and details["media"][0]["url"].startswith("https://")
    else:
        assert MEDIA_PENDING not in parsed.metadata
    if name == "quick_reply":
        assert details["quick_reply"] == {"payload": "DEVELOPER_DEFINED_PAYLOAD"}
    if name == "postback":
        assert details["postback"]["payload"] == "GET_STARTED" and parsed.provider_message_id == "m_postback_1"
    if name in ("reaction", "unreaction"):
        action = "react" if name == "reaction" else "unreact"
        assert parsed.in_reply_to == ("m_our_message",) and details["reaction"]["action"] == action
    if name == "reply":
        assert parsed.in_reply_to == ("mid.1457764197618:41d102a3e1ae206a38",)


@pytest.mark.parametrize("name", sorted(INSTAGRAM_SAMPLES))
def test_every_instagram_sample_is_parsed(name):
    parsed = _one(InstagramChannel(), INSTAGRAM, "instagram", INSTAGRAM_SAMPLES[name], IG_ACCOUNT, IGSID)
    if name == "read":
        assert isinstance(parsed, DeliveryReport) and parsed.provider_message_ids == ("m_our_message",)
        return
    assert isinstance(parsed, InboundEvent)
    assert parsed.identities[0].kind == "instagram" and parsed.identities[0].value == f"{IG_ACCOUNT}:{IGSID}"
    details = parsed.metadata["meta"]
    if name == "story_mention":
        assert details["story"] == {"kind": "mention", "url": "https://lookaside.fbsbx.example/story"}
        assert "mentioned you in their story" in parsed.text and "https://lookaside.fbsbx.example/story" in parsed.text
        assert MEDIA_PENDING not in parsed.metadata  # story media is shown from Meta's CDN, never stored
    elif name == "story_reply":
        assert details["story"]["kind"] == "reply" and parsed.text.endswith("bellissimo!")
        assert "https://lookaside.fbsbx.example/story2" in parsed.text
    elif name == "deleted":
        assert details["type"] == "deleted" and parsed.provider_message_id.endswith(":deleted")
        assert parsed.in_reply_to == (INSTAGRAM_SAMPLES["text"]["message"]["mid"],)
    elif name == "unsupported":
        assert "does not pass on" in parsed.text
    elif name == "image":
        assert parsed.metadata[MEDIA_PENDING] is True
    elif name == "reaction":
        assert details["reaction"] == {"mid": "m_our_message", "action": "react", "emoji": "\u2764\ufe0f"}
    else:
        assert parsed.text


def test_echoes_and_other_pages_entries_are_left_out():
    echo = {"message": {"mid": "m_echo", "is_echo": True, "app_id": 1517776481860111, "text": "ours"}}
    payload = envelope("messenger", PAGE, event(PAGE, PAGE, **echo), event(PAGE, PSID, **echo))
    payload["entry"].append(envelope("messenger", "999", event("999", PSID, **MESSENGER_SAMPLES["text"]))["entry"][0])
    assert _parse(MessengerChannel(), MESSENGER, payload) == []


def test_signatures_and_objects_are_checked():
    channel, payload = MessengerChannel(), envelope("messenger", PAGE, event(PAGE, PSID, **MESSENGER_SAMPLES["text"]))
    body, headers = signed(SECRET, payload)
    for bad_headers, key in (
        ({}, "meta.signature_missing"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, "meta.signature_mismatch"),
        (signed("another secret", payload)[1], "meta.signature_mismatch"),
    ):
        with pytest.raises(ChannelRejected) as refused:
            channel.parse_inbound(MESSENGER, InboundRequest.of("POST", "https://x/", bad_headers, body))
        assert refused.value.status == 401 and refused.value.key == key
    # An Instagram body on a Messenger inbox (signed right) is a precise 422, not a silent nothing.
    wrong_body, wrong_headers = signed(SECRET, envelope("instagram", PAGE))
    with pytest.raises(ChannelRejected) as refused:
        channel.parse_inbound(MESSENGER, InboundRequest.of("POST", "https://x/", wrong_headers, wrong_body))
    assert refused.value.status == 422 and refused.value.field == "object"
    assert len(channel.parse_inbound(MESSENGER, InboundRequest.of("POST", "https://x/", headers, body))) == 1


@pytest.mark.parametrize(
    ("body", "http", "retryable", "reason"),
    [
        ({"code": 10, "error_subcode": 2018278, "message": "outside of allowed window"}, 400, False, "outside_window"),
        (
            {"code": 551, "error_subcode": 1545041, "message": "This person isn't available"},
            400,
            False,
            "user_unavailable",
        ),
        ({"code": 613, "message": "Calls to this api have exceeded the rate limit."}, 400, True, "rate_limited"),
        ({"code": 4, "message": "Application request limit reached"}, 400, True, "rate_limited"),
        ({"code": 32, "message": "Page request limit reached"}, 400, True, "rate_limited"),
        ({"code": 1200, "message": "Temporary send message failure"}, 500, True, "temporary"),
        ({"code": 2, "message": "An unexpected error has occurred"}, 503, True, "temporary"),
        ({"code": 190, "message": "Invalid OAuth access token"}, 401, False, "token"),
        ({"code": 100, "message": "Invalid parameter"}, 400, False, "unknown"),
    ],
)
def test_send_api_errors_are_mapped(body, http, retryable, reason):
    error = errors.from_body({"error": body}, http)
    assert error.retryable is retryable and error.reason == f"meta.error.{reason}"
    assert str(body["code"]) in error.describe()


def test_send_payloads_follow_the_window_and_the_rules():
    replies = outbound.quick_replies(["Sì", {"title": "No", "payload": "NO"}])
    message = outbound.text("Vuole una chiamata?", 2000, replies)
    assert outbound.envelope(PSID, message) == {
        "recipient": {"id": PSID},
        "message": {
            "text": "Vuole una chiamata?",
            "quick_replies": [
                {"content_type": "text", "title": "Sì", "payload": "Sì"},
                {"content_type": "text", "title": "No", "payload": "NO"},
            ],
        },
        "messaging_type": "RESPONSE",
    }
    tagged = outbound.envelope(PSID, message, tag=outbound.HUMAN_AGENT)
    assert tagged["messaging_type"] == "MESSAGE_TAG" and tagged["tag"] == "HUMAN_AGENT"
    assert outbound.attachment_kind("application/pdf") == "file" and outbound.attachment_kind("image/png") == "image"
    for bad in (lambda: outbound.text("x" * 1001, 1000), lambda: outbound.quick_replies(["x" * 21])):
        with pytest.raises(outbound.OutboundInvalid):
            bad()


def test_the_human_agent_setting_extends_the_composer_window_to_seven_days():
    channel = MessengerChannel()
    assert channel.composer_rules({}).reply_window_seconds == 24 * 3600
    assert channel.composer_rules({"human_agent": True}).reply_window_seconds == 7 * 24 * 3600
    assert InstagramChannel().composer_rules({"human_agent": False}).max_length == 1000


def test_a_reply_goes_to_the_customers_id_on_this_page():
    other = [{"kind": "messenger", "value": f"999:{PSID}"}, {"kind": "messenger", "value": f"{PAGE}:777"}]
    assert recipient_for("messenger", PAGE, f"{PAGE}:{PSID}", []) == PSID
    assert recipient_for("messenger", PAGE, PSID, []) == PSID  # a bare id (imported) is taken as this page's
    # A contact merged from two pages: the identity of this page, whichever the reply service picked.
    assert recipient_for("messenger", PAGE, f"999:{PSID}", other) == "777"
    assert recipient_for("messenger", PAGE, f"999:{PSID}", other[:1]) is None
    assert recipient_for("instagram", IG_ACCOUNT, None, [{"kind": "messenger", "value": PSID}]) is None


@pytest.mark.parametrize(
    ("identities", "reason"),
    [([{"kind": "messenger", "value": f"999:{PSID}"}], "meta.error.other_page"), ([], "meta.error.no_recipient")],
)
def test_no_id_on_this_page_fails_for_good_with_a_reason(identities, reason):
    recipient = InboundIdentity(**identities[0]) if identities else None
    message = OutboundMessage("k", 1, 1, recipient, "ciao", None, [], None, {"identities": identities})
    with pytest.raises(DeliveryError) as failed:
        MessengerChannel().send(MESSENGER, message)
    assert failed.value.permanent and failed.value.reason == reason


def test_page_scoped_identities_are_valid_messenger_and_instagram_values():
    assert normalize_identity("messenger", f" {PAGE}:{PSID} ") == ("messenger", f"{PAGE}:{PSID}")
    assert normalize_identity("instagram", IGSID) == ("instagram", IGSID)  # a bare id, as imported records have
    for kind, value in (("messenger", "page:123"), ("instagram", f"{PAGE}:{PSID}:1"), ("telegram", "1:2")):
        with pytest.raises(InvalidInput):
            normalize_identity(kind, value)
