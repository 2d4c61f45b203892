"""WhatsApp Business Cloud API adapter: handshake, signatures and parsing.

Deliveries are built as Meta builds them (escaped-unicode JSON, HMAC over the raw bytes).
"""

from datetime import UTC, datetime

import pytest

from inbox.models import Inbox, InboxKind
from inbox.providers import adapter_for
from inbox.providers.base import PayloadInvalid, SignatureInvalid
from inbox.providers.whatsapp import WhatsAppAdapter
from tests.providers.meta_helpers import handshake_get, meta_bytes, signature, signed_post

APP_SECRET = "wa-app-secret"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"


def whatsapp_inbox(**fields):
    return Inbox(
        name="Support WhatsApp",
        kind=InboxKind.WHATSAPP,
        provider_config={
            "phone_number_id": PHONE_NUMBER_ID,
            "waba_id": WABA_ID,
            "display_phone_number": "15550783881",
        },
        provider_secrets={
            "access_token": "wa-token",
            "app_secret": APP_SECRET,
            "verify_token": "verify-me",
        },
        **fields,
    )


@pytest.fixture
def adapter():
    return WhatsAppAdapter(whatsapp_inbox())


def delivery(*, messages=(), statuses=(), contacts=None):
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
    }
    if contacts is not None:
        value["contacts"] = contacts
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return meta_bytes(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
        }
    )


def inbound(kind, content, *, wamid="wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUM=", **extra):
    return {
        "from": "16505551234",
        "id": wamid,
        "timestamp": "1749416383",
        "type": kind,
        kind: content,
        **extra,
    }


ANA = [{"profile": {"name": "Ana Mar\u00eda"}, "wa_id": "16505551234"}]


# -- registry and handshake --------------------------------------------------------------------


def test_whatsapp_inboxes_get_the_whatsapp_adapter():
    assert isinstance(adapter_for(whatsapp_inbox()), WhatsAppAdapter)
    assert WhatsAppAdapter.service_window_hours == 24


def test_handshake_with_our_verify_token_echoes_the_challenge_as_plain_text(adapter):
    response = adapter.handshake(
        handshake_get(mode="subscribe", challenge="1158201444", verify_token="verify-me")
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"mode": "subscribe", "challenge": "1", "verify_token": "wrong"},
        {"mode": "subscribe", "challenge": "1"},
        {"mode": "unsubscribe", "challenge": "1", "verify_token": "verify-me"},
    ],
)
def test_handshake_without_our_verify_token_is_forbidden(adapter, params):
    response = adapter.handshake(handshake_get(**params))
    assert response.status_code == 403
    assert response.content != b"1"


def test_handshake_is_forbidden_when_the_inbox_has_no_verify_token():
    inbox = whatsapp_inbox()
    inbox.provider_secrets = {"app_secret": APP_SECRET}
    response = WhatsAppAdapter(inbox).handshake(
        handshake_get(mode="subscribe", challenge="1", verify_token="")
    )
    assert response.status_code == 403


# -- signatures --------------------------------------------------------------------------------


def test_a_delivery_signed_with_the_app_secret_is_accepted(adapter):
    body = delivery(messages=[inbound("text", {"body": "hola"})], contacts=ANA)
    adapter.verify_request(signed_post(body, signature(APP_SECRET, body)), body)


def test_the_signature_covers_the_raw_bytes_not_reserialised_json(adapter):
    body = delivery(messages=[inbound("text", {"body": "\u00e4"})], contacts=ANA)
    assert b"\\u00e4" in body
    reserialised = body.replace(b"\\u00e4", "\u00e4".encode())
    with pytest.raises(SignatureInvalid):
        adapter.verify_request(signed_post(reserialised, signature(APP_SECRET, body)), reserialised)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=0123",
        "sha256=" + "0" * 64,
    ],
)
def test_a_missing_or_wrong_signature_is_refused(adapter, header):
    body = delivery(messages=[inbound("text", {"body": "hola"})], contacts=ANA)
    with pytest.raises(SignatureInvalid):
        adapter.verify_request(signed_post(body, header), body)


def test_a_signature_made_with_another_secret_is_refused(adapter):
    body = delivery(messages=[inbound("text", {"body": "hola"})], contacts=ANA)
    with pytest.raises(SignatureInvalid):
        adapter.verify_request(signed_post(body, signature("someone-else", body)), body)


def test_without_an_app_secret_nothing_is_accepted():
    inbox = whatsapp_inbox()
    inbox.provider_secrets = {"verify_token": "verify-me"}
    body = delivery(messages=[inbound("text", {"body": "hola"})])
    with pytest.raises(SignatureInvalid):
        WhatsAppAdapter(inbox).verify_request(signed_post(body, signature("", body)), body)


def test_the_delivery_key_is_the_body_hash_equal_for_retries(adapter):
    body = delivery(messages=[inbound("text", {"body": "hola"})])
    assert adapter.delivery_key(body, "application/json") == adapter.delivery_key(
        bytes(body), "application/json"
    )
    assert adapter.delivery_key(body, "application/json").startswith("sha256:")


# -- inbound messages --------------------------------------------------------------------------


def test_a_text_message_names_its_sender_by_wa_id_profile_name_and_phone(adapter):
    body = delivery(messages=[inbound("text", {"body": "Hola, \u00bfqu\u00e9 tal?"})], contacts=ANA)
    parsed = adapter.parse(body, "application/json")
    assert parsed.statuses == []
    [message] = parsed.messages
    assert message.external_id == "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUM="
    assert message.body == "Hola, ¿qué tal?"
    assert message.sender.external_id == "16505551234"
    assert message.sender.name == "Ana María"
    assert message.sender.phone == "+16505551234"
    assert message.timestamp == datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)
    assert message.timestamp.tzinfo is not None
    assert message.is_echo is False


def test_an_image_is_media_to_fetch_with_its_caption_as_the_body(adapter):
    image = {"caption": "mi factura", "mime_type": "image/jpeg", "sha256": "abc", "id": "1234"}
    [message] = adapter.parse(delivery(messages=[inbound("image", image)]), "").messages
    assert message.body == "mi factura"
    [media] = message.media
    assert (media.ref, media.content_type, media.filename) == ("1234", "image/jpeg", "")


def test_a_document_keeps_its_file_name(adapter):
    document = {
        "filename": "factura-m\u00e1rzo.pdf",
        "mime_type": "application/pdf",
        "sha256": "abc",
        "id": "5678",
    }
    [message] = adapter.parse(delivery(messages=[inbound("document", document)]), "").messages
    assert message.media[0].filename == "factura-márzo.pdf"
    assert message.media[0].content_type == "application/pdf"
    assert message.body == ""


@pytest.mark.parametrize(
    ("kind", "mime"),
    [("audio", "audio/ogg; codecs=opus"), ("video", "video/mp4"), ("sticker", "image/webp")],
)
def test_audio_video_and_stickers_are_media_to_fetch(adapter, kind, mime):
    content = {"mime_type": mime, "sha256": "abc", "id": f"{kind}-id"}
    [message] = adapter.parse(delivery(messages=[inbound(kind, content)]), "").messages
    assert message.media[0].ref == f"{kind}-id"
    assert message.media[0].content_type == mime


def test_a_location_is_kept_as_content_attributes(adapter):
    location = {
        "latitude": 40.4168,
        "longitude": -3.7038,
        "name": "Puerta del Sol",
        "address": "Madrid",
    }
    [message] = adapter.parse(delivery(messages=[inbound("location", location)]), "").messages
    assert message.content_attributes["location"] == location
    assert message.media == ()


def test_a_reaction_names_the_emoji_and_the_message_it_reacts_to(adapter):
    reaction = {"message_id": "wamid.ours", "emoji": "\U0001f44d"}
    [message] = adapter.parse(delivery(messages=[inbound("reaction", reaction)]), "").messages
    assert message.content_attributes["reaction"] == {"emoji": "👍", "message_id": "wamid.ours"}


def test_shared_contacts_read_as_text(adapter):
    cards = [
        {
            "name": {"formatted_name": "Luis P\u00e9rez", "first_name": "Luis"},
            "phones": [{"phone": "+34 600 000 000", "type": "CELL"}],
        }
    ]
    message_data = {
        "from": "16505551234",
        "id": "wamid.contacts",
        "timestamp": "1749416383",
        "type": "contacts",
        "contacts": cards,
    }
    [message] = adapter.parse(delivery(messages=[message_data]), "").messages
    assert message.body == "Luis Pérez: +34 600 000 000"
    assert message.content_attributes["contacts"] == cards


def test_a_button_reply_reads_as_its_title(adapter):
    interactive = {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "S\u00ed"}}
    [message] = adapter.parse(delivery(messages=[inbound("interactive", interactive)]), "").messages
    assert message.body == "Sí"
    assert message.content_attributes["interactive"] == {
        "type": "button_reply",
        "id": "yes-1",
        "title": "Sí",
    }


def test_a_list_reply_reads_as_its_title_and_description(adapter):
    interactive = {
        "type": "list_reply",
        "list_reply": {"id": "slot-9", "title": "9:00", "description": "Tuesday morning"},
    }
    [message] = adapter.parse(delivery(messages=[inbound("interactive", interactive)]), "").messages
    assert message.body == "9:00\nTuesday morning"


def test_a_template_quick_reply_button_reads_as_its_text(adapter):
    button = {"payload": "STOP_PROMOS", "text": "Stop promotions"}
    [message] = adapter.parse(delivery(messages=[inbound("button", button)]), "").messages
    assert message.body == "Stop promotions"
    assert message.content_attributes["button"]["payload"] == "STOP_PROMOS"


def test_a_reply_to_one_of_our_messages_names_it(adapter):
    text = inbound("text", {"body": "yes"}, context={"from": "15550783881", "id": "wamid.ours"})
    [message] = adapter.parse(delivery(messages=[text]), "").messages
    assert message.content_attributes["in_reply_to"] == "wamid.ours"


def test_an_unsupported_message_is_kept_and_marked_so(adapter):
    unsupported = {
        "from": "16505551234",
        "id": "wamid.unsupported",
        "timestamp": "1749416383",
        "type": "unsupported",
        "errors": [{"code": 131051, "title": "Message type unknown"}],
    }
    [message] = adapter.parse(delivery(messages=[unsupported]), "").messages
    assert message.content_attributes == {"unsupported": {"type": "unsupported"}}


def test_every_message_of_a_batched_delivery_is_parsed(adapter):
    body = delivery(
        messages=[
            inbound("text", {"body": "one"}, wamid="wamid.1"),
            inbound("text", {"body": "two"}, wamid="wamid.2"),
        ],
        contacts=ANA,
    )
    assert [m.body for m in adapter.parse(body, "").messages] == ["one", "two"]


# -- statuses ----------------------------------------------------------------------------------


def status(state, **extra):
    return {
        "id": "wamid.ours",
        "status": state,
        "timestamp": "1749416400",
        "recipient_id": "16505551234",
        **extra,
    }


@pytest.mark.parametrize("state", ["sent", "delivered", "read"])
def test_a_status_is_a_receipt_for_our_message(adapter, state):
    parsed = adapter.parse(delivery(statuses=[status(state)]), "")
    assert parsed.messages == []
    [update] = parsed.statuses
    assert update.status == state
    assert update.external_id == "wamid.ours"
    assert update.recipient == "16505551234"
    assert update.timestamp == datetime(2025, 6, 8, 21, 0, tzinfo=UTC)
    assert update.error_code == ""


def test_a_failed_status_carries_the_code_and_the_providers_explanation(adapter):
    error = {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {"details": "More than 24 hours have passed since the customer wrote."},
    }
    [update] = adapter.parse(delivery(statuses=[status("failed", errors=[error])]), "").statuses
    assert update.status == "failed"
    assert update.error_code == "131047"
    assert update.error_message == (
        "Re-engagement message: More than 24 hours have passed since the customer wrote."
    )


def test_statuses_we_do_not_track_are_skipped(adapter):
    parsed = adapter.parse(delivery(statuses=[status("deleted"), status("read")]), "")
    assert [s.status for s in parsed.statuses] == ["read"]


# -- what is not a delivery --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"text"'],
)
def test_a_body_that_is_not_a_json_object_is_invalid(adapter, body):
    with pytest.raises(PayloadInvalid):
        adapter.parse(body, "application/json")


def test_a_delivery_for_another_object_is_invalid(adapter):
    with pytest.raises(PayloadInvalid, match="whatsapp_business_account"):
        adapter.parse(meta_bytes({"object": "page", "entry": []}), "")


def test_a_delivery_without_entries_is_invalid(adapter):
    with pytest.raises(PayloadInvalid, match="entry"):
        adapter.parse(meta_bytes({"object": "whatsapp_business_account"}), "")


def test_a_message_without_an_id_is_invalid(adapter):
    broken = inbound("text", {"body": "hola"})
    del broken["id"]
    with pytest.raises(PayloadInvalid):
        adapter.parse(delivery(messages=[broken]), "")


def test_a_delivery_of_other_fields_only_parses_to_nothing(adapter):
    body = meta_bytes(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": WABA_ID,
                    "changes": [
                        {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
                    ],
                }
            ],
        }
    )
    parsed = adapter.parse(body, "")
    assert parsed.messages == []
    assert parsed.statuses == []
