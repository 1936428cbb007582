"""Each documented sample payload turned into the normalized event the record stores (pure: no database)."""

from __future__ import annotations

from raccordo.channels.base import DeliveryReport, InboundEvent
from raccordo.channels.whatsapp import errors, inbound
from tests.channels.whatsapp.payloads import CUSTOMER, SAMPLES, message, status

NUMBER = "106540352242922"


def _one(kind: str, body: object, language: str = "en", **extra: object) -> InboundEvent:
    wamid = f"wamid.{kind}"
    (value,) = inbound.changes_for(message(NUMBER, kind, body, wamid=wamid, **extra), NUMBER)  # type: ignore[arg-type]
    (event,) = inbound.parse_value(value, language)
    assert isinstance(event, InboundEvent) and event.provider_message_id == wamid
    return event


def test_text_carries_the_wa_id_as_an_e164_whatsapp_identity_and_the_profile_name():
    event = _one("text", SAMPLES["text"])
    assert event.text == "Does it come in another color?"
    assert [(i.kind, i.value, i.verified) for i in event.identities] == [("whatsapp", f"+{CUSTOMER}", True)]
    assert event.contact_name == "Sheena Nelson" and event.sent_at is not None and event.sent_at.year == 2025


def test_media_types_are_listed_for_download_and_described_until_then():
    image = _one("image", SAMPLES["image"])
    assert image.text == "Black jacket"  # the caption
    assert image.metadata[inbound.MEDIA_PENDING] is True
    (media,) = image.metadata["whatsapp"]["media"]
    assert media["id"] == "1003383421387256" and media["mime_type"] == "image/jpeg" and media["status"] == "pending"
    assert _one("audio", SAMPLES["audio"]).text == "[Voice message]"
    assert _one("audio", SAMPLES["audio"], "it").text == "[Messaggio vocale]"
    assert _one("video", SAMPLES["video"]).text == "Unboxing"
    document = _one("document", SAMPLES["document"])
    assert document.metadata["whatsapp"]["media"][0]["filename"] == "lucky-shrub-invoice.pdf"
    assert _one("sticker", SAMPLES["sticker"]).text == "[Sticker]"


def test_location_contacts_and_replies_from_buttons_and_lists():
    location = _one("location", SAMPLES["location"])
    assert "Philz Coffee" in location.text and "37.44" in location.text
    assert location.metadata["whatsapp"]["location"]["longitude"] == -122.16155960083124
    contacts = _one("contacts", SAMPLES["contacts"])
    assert "Barbara J. Johnson +1 (415) 555-0123" in contacts.text
    button = _one("interactive", SAMPLES["interactive_button"])
    assert button.text == "Yes, call me" and button.metadata["whatsapp"]["interactive"]["id"] == "yes-callback"
    row = _one("interactive", SAMPLES["interactive_list"])
    assert row.text == "Express shipping — Next day"
    assert row.metadata["whatsapp"]["interactive"] == {
        "type": "list_reply",
        "id": "priority_express",
        "title": "Express shipping",
    }
    quick = _one("button", SAMPLES["button"])
    assert quick.text == "Unsubscribe" and quick.metadata["whatsapp"]["button"]["payload"] == "Unsubscribe"


def test_reactions_and_replies_point_at_the_message_they_answer():
    reaction = _one("reaction", SAMPLES["reaction"])
    assert reaction.in_reply_to == (SAMPLES["reaction"]["message_id"],)
    assert reaction.text == "[Reaction \U0001f44d to a message]"
    reply = _one("text", SAMPLES["text"], context={"from": "15550783881", "id": "wamid.earlier"})
    assert reply.in_reply_to == ("wamid.earlier",)


def test_unsupported_and_unknown_types_are_shown_never_dropped():
    unsupported = _one("unsupported", None)
    assert "unsupported" in unsupported.text and unsupported.metadata["whatsapp"]["errors"][0]["code"] == 131051
    newer = _one("poll_vote", {"option": 2})
    assert "poll_vote" in newer.text


def test_statuses_sent_delivered_read_failed_with_the_reason_key():
    def parse(payload):
        (value,) = inbound.changes_for(payload, NUMBER)
        return inbound.parse_value(value, "en")

    (sent,) = parse(status(NUMBER, "wamid.A", "sent"))
    assert sent.status == "sent" and sent.reason_key is None
    (delivered,) = parse(status(NUMBER, "wamid.A", "delivered"))
    assert isinstance(delivered, DeliveryReport) and delivered.status == "delivered"
    assert delivered.provider_message_ids == ("wamid.A",)
    (read,) = parse(status(NUMBER, "wamid.A", "read"))
    assert read.status == "read" and read.report_id != delivered.report_id
    failure = [{"code": 131047, "title": "Re-engagement message", "error_data": {"details": "..."}}]
    (failed,) = parse(status(NUMBER, "wamid.A", "failed", failure))
    assert failed.status == "failed" and "24 hours" in failed.reason and "131047" in failed.reason
    assert failed.reason_key == "whatsapp.error.131047" and failed.params == {
        "code": "131047",
        "title": "Re-engagement message",
    }
    (unknown,) = parse(status(NUMBER, "wamid.A", "failed", [{"code": 999999, "title": "Brand new"}]))
    assert unknown.reason_key == "whatsapp.error.unknown" and unknown.params["title"] == "Brand new"


def test_only_the_inboxs_own_phone_number_is_kept():
    payload = message("999", "text", SAMPLES["text"], wamid="wamid.other")
    assert inbound.changes_for(payload, NUMBER) == []
    assert inbound.phone_number_ids(payload) == {"999"}


def test_error_codes_are_retryable_or_permanent_and_explained_in_both_languages():
    assert errors.GraphError(130429).retryable and errors.GraphError(131000).retryable
    assert not errors.GraphError(131047).retryable and not errors.GraphError(131026).retryable
    assert errors.GraphError(None, http_status=503).retryable and not errors.GraphError(None, http_status=400).retryable
    assert "template" in errors.GraphError(131047).explain("en")
    assert "modello" in errors.GraphError(131047).explain("it")
    assert (
        errors.GraphError(999999, "Something new")
        .explain("en")
        .startswith("WhatsApp refused the message: Something new")
    )


def test_rate_limits_wait_before_the_next_attempt():
    assert errors.GraphError(130429).retry_after == 5.0
    assert errors.GraphError(131056).retry_after == 60.0 and errors.GraphError(80007).retry_after == 60.0
    assert errors.GraphError(None, http_status=429).retry_after == 30.0
    assert errors.GraphError(None, http_status=429, retry_after_header=7.0).retry_after == 7.0
    assert errors.GraphError(131026).retry_after is None
    assert errors.GraphError(131026).reason() == (
        "whatsapp.error.131026",
        {"code": "131026", "title": "?"},
    )
