"""The SMS channel on documented provider requests, without a server: signatures (valid, wrong,
missing, tampered), each sample payload parsed, statuses mapped, keywords recognized, settings
rules, and the segment count with its encoding."""

from __future__ import annotations

import json

import pytest

from raccordo.channels.base import ChannelRejected, DeliveryReport, InboundEvent, get_channel
from raccordo.channels.domain.composer import ComposerRules, check_reply, sms_encoding, sms_segments
from raccordo.channels.sms import keywords
from raccordo.platform.errors import InvalidInput
from tests.channels.sms import payloads as p


@pytest.fixture
def sms():
    channel = get_channel("sms")
    assert channel is not None
    return channel


def test_twilio_inbound_sample_is_parsed(sms):
    (event,) = sms.parse_inbound(p.twilio_inbox(), p.twilio_request(p.TWILIO_INBOUND))
    assert isinstance(event, InboundEvent)
    assert event.provider_message_id == p.TWILIO_INBOUND["MessageSid"]
    assert (event.identities[0].kind, event.identities[0].value) == ("phone", "+393471234567")
    assert event.text == "Buongiorno, a che ora aprite?"
    assert event.metadata["sms"]["provider"] == "twilio" and "keyword" not in event.metadata["sms"]
    answer = sms.webhook_response(p.twilio_inbox(), p.twilio_request(p.TWILIO_INBOUND), [event])
    assert answer is not None and answer.body.endswith(b"<Response></Response>")


def test_twilio_mms_lists_its_media_to_download(sms):
    (event,) = sms.parse_inbound(p.twilio_inbox(), p.twilio_request(p.TWILIO_MMS))
    assert event.metadata["sms_media_pending"] is True
    (item,) = event.metadata["sms"]["media"]
    assert item == {"url": p.TWILIO_MMS["MediaUrl0"], "content_type": "image/jpeg", "status": "pending"}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"token": "0" * 32}, "sms.twilio.signature_mismatch"),
        ({"url": p.URL + "?x=1"}, "sms.twilio.signature_mismatch"),
    ],
)
def test_twilio_wrong_signature_is_401(sms, change, key):
    token, url = change.get("token", p.AUTH_TOKEN), change.get("url", p.URL)
    request = p.twilio_request(p.TWILIO_INBOUND, token=token, url=url)
    if "url" in change:  # signed for another URL than the one called
        request = type(request)("POST", p.URL, request.headers, request.body)
    with pytest.raises(ChannelRejected) as refused:
        sms.parse_inbound(p.twilio_inbox(), request)
    assert (refused.value.status, refused.value.key) == (401, key)


def test_twilio_tampered_or_unsigned_request_is_401(sms):
    request = p.twilio_request(p.TWILIO_INBOUND)
    tampered = type(request)("POST", request.url, request.headers, request.body.replace(b"aprite", b"chiudete"))
    with pytest.raises(ChannelRejected) as refused:
        sms.parse_inbound(p.twilio_inbox(), tampered)
    assert refused.value.status == 401
    unsigned = type(request)("POST", request.url, {"content-type": request.headers["content-type"]}, request.body)
    with pytest.raises(ChannelRejected) as missing:
        sms.parse_inbound(p.twilio_inbox(), unsigned)
    assert (missing.value.status, missing.value.key) == (401, "sms.twilio.signature_missing")


def test_twilio_statuses_are_mapped_with_an_explained_error(sms):
    sid = "SM" + "d" * 32
    inbox = p.twilio_inbox(language="en")
    assert sms.parse_inbound(inbox, p.twilio_request(p.twilio_status(sid, "sent"))) == []
    (delivered,) = sms.parse_inbound(inbox, p.twilio_request(p.twilio_status(sid, "delivered")))
    assert isinstance(delivered, DeliveryReport) and delivered.status == "delivered"
    (failed,) = sms.parse_inbound(inbox, p.twilio_request(p.twilio_status(sid, "undelivered", "30003")))
    assert failed.status == "failed" and "out of reach" in failed.reason and "Twilio 30003" in failed.reason
    (italian,) = sms.parse_inbound(p.twilio_inbox(), p.twilio_request(p.twilio_status(sid, "failed", "30005")))
    assert "non esiste" in italian.reason


def test_vonage_inbound_and_status_samples_are_parsed(sms):
    (event,) = sms.parse_inbound(p.vonage_inbox(), p.vonage_request(p.VONAGE_INBOUND))
    assert event.provider_message_id == p.VONAGE_INBOUND["message_uuid"]
    assert event.identities[0].value == "+393471234567" and event.text == "Hello From Vonage!"
    assert sms.webhook_response(p.vonage_inbox(), p.vonage_request(p.VONAGE_INBOUND), [event]) is None
    uuid_ = "cccccccc-bbbb-4ccc-8ddd-0123456789ab"
    assert sms.parse_inbound(p.vonage_inbox(), p.vonage_request(p.vonage_status(uuid_, "submitted"))) == []
    (delivered,) = sms.parse_inbound(p.vonage_inbox(), p.vonage_request(p.vonage_status(uuid_, "delivered")))
    assert delivered.status == "delivered" and delivered.provider_message_ids == (uuid_,)
    (failed,) = sms.parse_inbound(p.vonage_inbox(language="en"), p.vonage_request(p.vonage_status(uuid_, "rejected")))
    assert failed.status == "failed" and "absent" in failed.reason and "Vonage 1320" in failed.reason


def test_vonage_signature_wrong_secret_tampered_body_or_missing_is_401(sms):
    with pytest.raises(ChannelRejected) as wrong:
        sms.parse_inbound(
            p.vonage_inbox(), p.vonage_request(p.VONAGE_INBOUND, secret="another-signature-secret-0123456789")
        )
    assert (wrong.value.status, wrong.value.key) == (401, "sms.vonage.signature_mismatch")
    changed = json.dumps({**p.VONAGE_INBOUND, "text": "changed"}).encode()
    with pytest.raises(ChannelRejected) as tampered:
        sms.parse_inbound(p.vonage_inbox(), p.vonage_request(p.VONAGE_INBOUND, body=changed))
    assert (tampered.value.status, tampered.value.key) == (401, "sms.vonage.payload_hash")
    request = p.vonage_request(p.VONAGE_INBOUND)
    bare = type(request)("POST", request.url, {"content-type": "application/json"}, request.body)
    with pytest.raises(ChannelRejected) as missing:
        sms.parse_inbound(p.vonage_inbox(), bare)
    assert missing.value.status == 401


def test_vonage_payload_without_uuid_is_422(sms):
    payload = {k: v for k, v in p.VONAGE_INBOUND.items() if k != "message_uuid"}
    with pytest.raises(ChannelRejected) as refused:
        sms.parse_inbound(p.vonage_inbox(), p.vonage_request(payload))
    assert refused.value.status == 422 and refused.value.field == "message_uuid"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", ("opt_out", "STOP")),
        ("  stop. ", ("opt_out", "STOP")),
        ("Arresta", ("opt_out", "ARRESTA")),
        ("cancella!", ("opt_out", "CANCELLA")),
        ("STOP ALL", ("opt_out", "STOPALL")),
        ("unsubscribe", ("opt_out", "UNSUBSCRIBE")),
        ("START", ("opt_in", "START")),
        ("iscrivi", ("opt_in", "ISCRIVI")),
        ("please stop sending me offers", None),
        ("", None),
    ],
)
def test_keywords(text, expected):
    assert keywords.classify(text, {}) == expected


def test_inbox_keywords_extend_the_lists():
    settings = {"opt_out_keywords": ["Basta offerte"], "opt_in_keywords": ["si grazie"]}
    assert keywords.classify("basta offerte", settings) == ("opt_out", "BASTAOFFERTE")
    assert keywords.classify("Sì grazie", settings) == ("opt_in", "SIGRAZIE")


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),
        ("a" * 306, "gsm7", 2),
        ("a" * 307, "gsm7", 3),
        ("€" * 80, "gsm7", 1),  # the euro sign is in the extension table: two units each
        ("€" * 81, "gsm7", 2),
        ("Perché è così", "gsm7", 1),  # è, é, ì are GSM-7; the accented capitals mostly are not
        ("ciao 😀", "ucs2", 1),
        ("a" * 69 + "😀", "ucs2", 2),  # an emoji is two UTF-16 units: 71 > 70
        ("ł" * 70, "ucs2", 1),
        ("ł" * 71, "ucs2", 2),
        ("ł" * 134, "ucs2", 2),
        ("ł" * 135, "ucs2", 3),
    ],
)
def test_segments_and_encoding(text, encoding, segments):
    assert sms_encoding(text) == encoding
    assert sms_segments(text) == segments


def test_inbox_maximum_of_segments_is_a_clear_422(sms):
    rules = sms.composer_rules({"max_segments": 2})
    assert isinstance(rules, ComposerRules) and rules.max_sms_segments == 2
    check_reply(rules, channel="sms", text="a" * 306, files=[], last_inbound_at=None, now=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as refused:
        check_reply(rules, channel="sms", text="😀" * 70, files=[], last_inbound_at=None, now=None)  # type: ignore[arg-type]
    assert refused.value.key == "composer.too_many_segments" and refused.value.status == 422
    assert refused.value.params["segments"] == 3 and refused.value.params["limit"] == 2


def test_settings_rules(sms):
    base = {"provider": "twilio", "sender": "+390200000000", "twilio_account_sid": p.ACCOUNT_SID}
    settings, _ = sms.validate_settings(base, {"twilio_auth_token": p.AUTH_TOKEN})
    assert settings["max_segments"] == 5 and settings["opt_out_keywords"] == []
    sms.validate_settings(
        {**base, "sender": "Raccordo", "alias_registration": "AGCOM-2024-0042"}, {"twilio_auth_token": "t"}
    )
    for sender in ("RaccordoSrl123", "12345", "+0123"):
        with pytest.raises(InvalidInput) as refused:
            sms.validate_settings({**base, "sender": sender}, {"twilio_auth_token": "t"})
        assert refused.value.field == "settings.sender"
    with pytest.raises(InvalidInput) as missing:
        sms.validate_settings(base, {})
    assert missing.value.field == "secrets.twilio_auth_token"
    with pytest.raises(InvalidInput) as vonage:
        sms.validate_settings(
            {"provider": "vonage", "sender": "Raccordo", "vonage_api_key": "k"}, {"vonage_api_secret": "s"}
        )
    assert vonage.value.field == "secrets.vonage_signature_secret"
