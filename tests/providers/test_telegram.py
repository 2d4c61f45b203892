"""The Telegram adapter reads updates exactly as the Bot API posts them."""

import json
from datetime import UTC, datetime

import pytest
from django.test import RequestFactory

from inbox.models import Inbox, InboxKind
from inbox.providers import ADAPTERS, adapter_for
from inbox.providers.base import PayloadInvalid, SignatureInvalid
from inbox.providers.telegram import TelegramAdapter

SECRET = "s3cret-Token_for-the-webhook"


def telegram_inbox(**secrets):
    return Inbox(
        name="Bot",
        kind=InboxKind.TELEGRAM,
        provider_config={"bot_username": "switchboard_bot", "mode": "webhook"},
        provider_secrets={"bot_token": "123:abc", "secret_token": SECRET, **secrets},
    )


@pytest.fixture
def adapter():
    return TelegramAdapter(telegram_inbox())


def update(update_id=2342342343242, **fields):
    return json.dumps({"update_id": update_id, **fields}).encode()


def message(**fields):
    return {
        "message_id": 1,
        "from": {
            "id": 23,
            "is_bot": False,
            "first_name": "Ana",
            "last_name": "López",
            "username": "ana",
            "language_code": "es",
        },
        "chat": {"id": 23, "type": "private", "first_name": "Ana", "last_name": "López"},
        "date": 1700000000,
        **fields,
    }


def webhook_request(body, secret=None):
    headers = {} if secret is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret}
    return RequestFactory().post(
        "/webhooks/telegram/tok/", data=body, content_type="application/json", **headers
    )


def the_message(adapter, body):
    delivery = adapter.parse(body, "application/json")
    assert delivery.statuses == []
    assert len(delivery.messages) == 1
    return delivery.messages[0]


def test_telegram_inboxes_get_the_telegram_adapter():
    assert ADAPTERS["telegram"] is TelegramAdapter
    assert isinstance(adapter_for(telegram_inbox()), TelegramAdapter)


def test_telegram_paces_sends_as_the_bot_api_allows():
    assert TelegramAdapter.min_interval_per_chat == 1.0
    assert TelegramAdapter.max_per_second == 30


# -- verify ---------------------------------------------------------------------------------


def test_request_with_the_inbox_secret_token_is_accepted(adapter):
    body = update(message=message(text="hola"))
    adapter.verify_request(webhook_request(body, SECRET), body)


@pytest.mark.parametrize(
    "given",
    [None, "", "wrong", SECRET + "x", SECRET[:-1], SECRET.upper()],
    ids=["missing", "empty", "other", "longer", "shorter", "other-case"],
)
def test_request_without_the_exact_secret_token_is_refused(adapter, given):
    body = update(message=message(text="hola"))
    with pytest.raises(SignatureInvalid):
        adapter.verify_request(webhook_request(body, given), body)


def test_inbox_without_a_secret_token_accepts_nothing():
    adapter = TelegramAdapter(telegram_inbox(secret_token=""))
    body = update(message=message(text="hola"))
    with pytest.raises(SignatureInvalid):
        adapter.verify_request(webhook_request(body, ""), body)


def test_telegram_has_no_handshake(adapter):
    assert adapter.handshake(RequestFactory().get("/webhooks/telegram/tok/")) is None


# -- delivery key ---------------------------------------------------------------------------


def test_delivery_is_named_by_its_update_id(adapter):
    body = update(update_id=77, message=message(text="hola"))
    assert adapter.delivery_key(body, "application/json") == "update:77"


def test_a_repeated_update_has_the_same_key_however_it_is_serialised(adapter):
    compact = json.dumps({"update_id": 5, "message": message(text="hé")}).encode()
    spaced = json.dumps({"message": message(text="hé"), "update_id": 5}, indent=2).encode()
    assert adapter.delivery_key(compact, "") == adapter.delivery_key(spaced, "") == "update:5"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"update_id": "5"}', b'{"update_id": true}', b"{}"],
)
def test_delivery_without_an_integer_update_id_is_named_by_its_bytes(adapter, body):
    key = adapter.delivery_key(body, "application/json")
    assert key.startswith("sha256:")
    assert key == adapter.delivery_key(body, "application/json")


# -- parse ----------------------------------------------------------------------------------


def test_text_message_becomes_one_inbound_message_from_the_chat(adapter):
    parsed = the_message(adapter, update(message=message(text="hola")))
    assert parsed.external_id == "23:1"
    assert parsed.body == "hola"
    assert parsed.timestamp == datetime.fromtimestamp(1700000000, tz=UTC)
    assert parsed.sender.external_id == "23"
    assert parsed.sender.name == "Ana López"
    assert parsed.sender.language == "es"
    assert parsed.media == ()
    assert parsed.content_attributes == {}
    assert parsed.consent_keyword == ""


def test_sender_without_a_last_name_is_named_by_the_first(adapter):
    body = update(message=message(text="hi", **{"from": {"id": 23, "first_name": "Ana"}}))
    parsed = the_message(adapter, body)
    assert parsed.sender.name == "Ana"
    assert parsed.sender.language == ""


def test_group_message_comes_from_the_group_chat(adapter):
    group = {"id": -100123, "type": "supergroup", "title": "Support"}
    parsed = the_message(adapter, update(message=message(text="hi", chat=group)))
    assert parsed.sender.external_id == "-100123"
    assert parsed.external_id == "-100123:1"


def test_photo_is_its_largest_size_with_the_caption_as_body(adapter):
    sizes = [
        {"file_id": "small", "file_unique_id": "u1", "width": 90, "height": 90, "file_size": 1200},
        {"file_id": "mid", "file_unique_id": "u2", "width": 320, "height": 320, "file_size": 9000},
        {"file_id": "big", "file_unique_id": "u3", "width": 1280, "height": 1280, "file_size": 99},
    ]
    parsed = the_message(adapter, update(message=message(photo=sizes, caption="my receipt")))
    assert parsed.body == "my receipt"
    assert len(parsed.media) == 1
    assert parsed.media[0].ref == "big"
    assert parsed.media[0].content_type == "image/jpeg"
    assert parsed.media[0].size == 99


def test_document_keeps_its_name_and_type(adapter):
    document = {
        "file_id": "doc-1",
        "file_unique_id": "d",
        "file_name": "invoice 7.pdf",
        "mime_type": "application/pdf",
        "file_size": 5120,
    }
    parsed = the_message(adapter, update(message=message(document=document)))
    assert parsed.body == ""
    [media] = parsed.media
    assert (media.ref, media.content_type, media.filename, media.size) == (
        "doc-1",
        "application/pdf",
        "invoice 7.pdf",
        5120,
    )


def test_voice_note_is_ogg_audio_even_without_a_declared_type(adapter):
    voice = {"file_id": "voice-1", "file_unique_id": "v", "duration": 3}
    [media] = the_message(adapter, update(message=message(voice=voice))).media
    assert (media.ref, media.content_type) == ("voice-1", "audio/ogg")


def test_video_is_media_with_its_type(adapter):
    video = {"file_id": "vid-1", "file_unique_id": "v", "mime_type": "video/quicktime"}
    [media] = the_message(adapter, update(message=message(video=video))).media
    assert (media.ref, media.content_type) == ("vid-1", "video/quicktime")


def test_gif_sent_as_animation_and_document_is_one_file(adapter):
    gif = {"file_id": "anim-1", "file_unique_id": "a", "mime_type": "video/mp4"}
    body = update(message=message(animation=gif, document=gif))
    [media] = the_message(adapter, body).media
    assert media.ref == "anim-1"


def test_sticker_is_kept_as_an_attribute_not_a_file(adapter):
    sticker = {"file_id": "st-1", "file_unique_id": "s", "emoji": "👍", "set_name": "Hands"}
    parsed = the_message(adapter, update(message=message(sticker=sticker)))
    assert parsed.media == ()
    assert parsed.content_attributes["sticker"]["emoji"] == "👍"
    assert parsed.content_attributes["sticker"]["set_name"] == "Hands"


def test_location_is_kept_as_an_attribute(adapter):
    location = {"latitude": 40.4168, "longitude": -3.7038}
    parsed = the_message(adapter, update(message=message(location=location)))
    assert parsed.content_attributes["location"] == {"latitude": 40.4168, "longitude": -3.7038}


def test_reply_names_the_message_it_answers(adapter):
    earlier = message(message_id=9, text="earlier")
    parsed = the_message(adapter, update(message=message(text="re", reply_to_message=earlier)))
    assert parsed.content_attributes["in_reply_to"] == "23:9"


def test_edit_is_a_new_message_named_by_its_edit_date(adapter):
    edited = message(text="hola, corrected", edit_date=1700000100)
    parsed = the_message(adapter, update(update_id=8, edited_message=edited))
    assert parsed.external_id == "23:1:edit:1700000100"
    assert parsed.body == "hola, corrected"
    assert parsed.content_attributes["edited"] is True
    assert parsed.content_attributes["edit_of"] == "23:1"
    assert parsed.timestamp == datetime.fromtimestamp(1700000100, tz=UTC)


def test_a_second_edit_of_the_same_message_is_another_message(adapter):
    first = the_message(adapter, update(edited_message=message(text="a", edit_date=1700000100)))
    second = the_message(adapter, update(edited_message=message(text="b", edit_date=1700000200)))
    assert first.external_id != second.external_id


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[]", b'{"message": {}}', b'{"update_id": "1", "message": {}}'],
    ids=["bad-json", "empty", "list", "no-update-id", "string-update-id"],
)
def test_delivery_that_is_not_an_update_is_invalid(adapter, body):
    with pytest.raises(PayloadInvalid):
        adapter.parse(body, "application/json")


def test_message_without_a_chat_is_invalid(adapter):
    with pytest.raises(PayloadInvalid):
        adapter.parse(update(message={"message_id": 1, "text": "x"}), "application/json")


def test_update_of_another_kind_carries_nothing(adapter):
    blocked = {"chat": {"id": 23}, "new_chat_member": {"status": "kicked"}}
    delivery = adapter.parse(update(my_chat_member=blocked), "application/json")
    assert delivery.messages == []
    assert delivery.statuses == []
