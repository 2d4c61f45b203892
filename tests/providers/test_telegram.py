"""The Telegram adapter reads updates exactly as the Bot API posts them."""

import json
from datetime import UTC, datetime

import pytest
from django.test import RequestFactory

from inbox.models import Inbox, InboxKind
from inbox.providers import ADAPTERS, adapter_for
from inbox.providers.base import (
    InboundMedia,
    OutcomeUnknown,
    PayloadInvalid,
    PermanentSendError,
    RetryableSendError,
    SignatureInvalid,
)
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


# -- sending, over HTTP to the sandbox --------------------------------------------------------

BOT_TOKEN = "123:abc"
CHAT = 23
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg bytes" * 20
PDF = b"%PDF-1.7\n" + b"pdf bytes" * 20
OGG = b"OggS" + b"voice bytes" * 20


@pytest.fixture
def bot(sandbox, settings):
    settings.TELEGRAM_API_URL = f"{sandbox.url}/telegram"
    sandbox.add_telegram(BOT_TOKEN, chats=[CHAT])
    return sandbox


@pytest.fixture
def telegram(db):
    inbox = telegram_inbox()
    inbox.save()
    return inbox


@pytest.fixture
def chat(telegram, conversation_with):
    return conversation_with(telegram, str(CHAT))


def calls(sandbox):
    return [(r["path"].rsplit("/", 1)[-1], r) for r in sandbox.requests("telegram")]


def test_text_reply_is_one_send_message_to_the_chat(bot, telegram, chat, outbound):
    result = TelegramAdapter(telegram).send_message(outbound(chat, "¿En qué te ayudo?"))
    assert result.external_id == f"{CHAT}:1"
    [(method, request)] = calls(bot)
    assert method == "sendMessage"
    assert request["path"] == f"/telegram/bot{BOT_TOKEN}/sendMessage"
    assert request["json"] == {"chat_id": str(CHAT), "text": "¿En qué te ayudo?"}


def test_files_are_uploaded_with_the_text_as_the_first_caption(bot, telegram, chat, outbound):
    message = outbound(
        chat,
        "Your invoice",
        files=[("photo.jpg", JPEG, "image/jpeg"), ("invoice.pdf", PDF, "application/pdf")],
    )
    result = TelegramAdapter(telegram).send_message(message)
    [(first, photo), (second, document)] = calls(bot)
    assert (first, second) == ("sendPhoto", "sendDocument")
    assert photo["form"] == {"chat_id": str(CHAT), "caption": "Your invoice"}
    assert photo["files"]["photo"] == {
        "filename": "photo.jpg",
        "content_type": "image/jpeg",
        "size": len(JPEG),
    }
    assert document["form"] == {"chat_id": str(CHAT)}
    assert document["files"]["document"]["filename"] == "invoice.pdf"
    assert result.external_id == f"{CHAT}:1"
    stored = bot.find_media(filename="photo.jpg")
    assert stored["content"] == JPEG


def test_ogg_audio_goes_as_a_voice_note(bot, telegram, chat, outbound):
    message = outbound(chat, files=[("note.ogg", OGG, "audio/ogg")])
    TelegramAdapter(telegram).send_message(message)
    [(method, request)] = calls(bot)
    assert method == "sendVoice"
    assert "caption" not in request["form"]
    assert request["files"]["voice"]["size"] == len(OGG)


def test_gif_goes_as_a_document_not_a_photo(bot, telegram, chat, outbound):
    message = outbound(chat, files=[("dance.gif", b"GIF89a" + b"x" * 50, "image/gif")])
    TelegramAdapter(telegram).send_message(message)
    assert [method for method, _ in calls(bot)] == ["sendDocument"]


def test_text_too_long_for_a_caption_goes_first_on_its_own(bot, telegram, chat, outbound):
    long_text = "a" * 1500
    message = outbound(chat, long_text, files=[("photo.jpg", JPEG, "image/jpeg")])
    result = TelegramAdapter(telegram).send_message(message)
    [(first, text), (second, photo)] = calls(bot)
    assert (first, second) == ("sendMessage", "sendPhoto")
    assert text["json"]["text"] == long_text
    assert "caption" not in photo["form"]
    assert result.external_id == f"{CHAT}:1"


def test_rate_limit_is_retryable_after_telegrams_wait(bot, telegram, chat, outbound):
    bot.queue_fault("telegram", "429", retry_after=7)
    with pytest.raises(RetryableSendError) as caught:
        TelegramAdapter(telegram).send_message(outbound(chat, "hi"))
    assert caught.value.retry_after == 7
    assert caught.value.code == "429"
    assert "Too Many Requests" in caught.value.reason


@pytest.mark.parametrize("fault", ["500", "503"])
def test_server_error_is_retryable(bot, telegram, chat, outbound, fault):
    bot.queue_fault("telegram", fault)
    with pytest.raises(RetryableSendError):
        TelegramAdapter(telegram).send_message(outbound(chat, "hi"))


def test_blocked_bot_is_a_permanent_failure_with_telegrams_words(bot, telegram, chat, outbound):
    bot.telegram.block(BOT_TOKEN, CHAT)
    with pytest.raises(PermanentSendError) as caught:
        TelegramAdapter(telegram).send_message(outbound(chat, "hi"))
    assert caught.value.reason == "Forbidden: bot was blocked by the user"
    assert caught.value.code == "403"


def test_unknown_chat_is_a_permanent_failure(bot, telegram, conversation_with, outbound):
    stranger = conversation_with(telegram, "999")
    with pytest.raises(PermanentSendError) as caught:
        TelegramAdapter(telegram).send_message(outbound(stranger, "hi"))
    assert caught.value.reason == "Bad Request: chat not found"


def test_connection_dropped_mid_send_is_an_unknown_outcome(bot, telegram, chat, outbound):
    bot.queue_fault("telegram", "drop", process=True)
    with pytest.raises(OutcomeUnknown):
        TelegramAdapter(telegram).send_message(outbound(chat, "hi"))


def test_provider_unreachable_is_retryable(settings, telegram, chat, outbound):
    settings.TELEGRAM_API_URL = "http://127.0.0.1:9/telegram"
    with pytest.raises(RetryableSendError):
        TelegramAdapter(telegram).send_message(outbound(chat, "hi"))


def test_failure_after_a_first_part_left_is_final_and_says_so(bot, telegram, chat, outbound):
    bot.queue_fault("telegram", "500", path="sendDocument")
    message = outbound(
        chat,
        "two files",
        files=[("photo.jpg", JPEG, "image/jpeg"), ("invoice.pdf", PDF, "application/pdf")],
    )
    with pytest.raises(PermanentSendError) as caught:
        TelegramAdapter(telegram).send_message(message)
    assert caught.value.reason.startswith("Only 1 of 2 parts reached Telegram")


# -- media, polling and webhooks over HTTP ---------------------------------------------------


def test_inbound_photo_is_fetched_by_its_file_id(bot, telegram):
    media_id, _ = bot.host_media(JPEG, "image/jpeg", "snap.jpg")
    file_id = bot.media(media_id)["file_id"]
    fetched = TelegramAdapter(telegram).fetch_media(
        InboundMedia(ref=file_id, content_type="image/jpeg")
    )
    assert fetched.content == JPEG
    assert fetched.content_type == "image/jpeg"
    assert fetched.filename.endswith(".jpg")
    methods = [r["path"].rsplit("/", 1)[-1] for r in bot.requests("telegram")]
    assert methods[0] == "getFile"


def test_inbound_document_keeps_its_name_and_type(bot, telegram):
    media_id, _ = bot.host_media(PDF, "application/pdf", "invoice.pdf")
    media = InboundMedia(
        ref=bot.media(media_id)["file_id"], content_type="application/pdf", filename="invoice.pdf"
    )
    fetched = TelegramAdapter(telegram).fetch_media(media)
    assert (fetched.content, fetched.content_type, fetched.filename) == (
        PDF,
        "application/pdf",
        "invoice.pdf",
    )


def test_file_over_the_size_limit_is_not_downloaded(bot, telegram, settings):
    settings.INBOUND_MEDIA_MAX_BYTES = 50
    media_id, _ = bot.host_media(JPEG, "image/jpeg", "snap.jpg")
    with pytest.raises(PermanentSendError) as caught:
        TelegramAdapter(telegram).fetch_media(InboundMedia(ref=bot.media(media_id)["file_id"]))
    assert caught.value.code == "too_large"
    assert not [r for r in bot.requests("telegram") if "/file/" in r["path"]]


def test_unknown_file_id_is_a_permanent_failure(bot, telegram):
    with pytest.raises(PermanentSendError):
        TelegramAdapter(telegram).fetch_media(InboundMedia(ref="no-such-file"))


def test_polling_returns_each_update_as_its_own_delivery(bot, telegram):
    adapter = TelegramAdapter(telegram)
    bot.telegram_customer_writes(BOT_TOKEN, CHAT, "first")
    bot.telegram_customer_writes(BOT_TOKEN, CHAT, "second")
    deliveries, next_offset = adapter.get_updates(offset=None)
    assert len(deliveries) == 2
    bodies = [adapter.parse(d, "application/json").messages[0].body for d in deliveries]
    assert bodies == ["first", "second"]
    keys = [adapter.delivery_key(d, "application/json") for d in deliveries]
    assert next_offset == int(keys[-1].removeprefix("update:")) + 1

    again, same_offset = adapter.get_updates(offset=next_offset)
    assert (again, same_offset) == ([], next_offset)


def test_polled_photo_can_be_fetched(bot, telegram):
    adapter = TelegramAdapter(telegram)
    bot.telegram_customer_writes(BOT_TOKEN, CHAT, photo=(JPEG, "image/jpeg", "snap.jpg"))
    [delivery], _ = adapter.get_updates(offset=None)
    [message] = adapter.parse(delivery, "application/json").messages
    [media] = message.media
    assert adapter.fetch_media(media).content == JPEG


def test_webhook_set_by_the_adapter_posts_updates_it_accepts(bot, telegram, receiver):
    adapter = TelegramAdapter(telegram)
    url = f"{receiver.url}/webhooks/telegram/{telegram.public_token}/"
    adapter.set_webhook(url)
    bot.telegram_customer_writes(BOT_TOKEN, CHAT, "via webhook")
    [post] = receiver.wait_for(1)
    secret = post["headers"]["X-Telegram-Bot-Api-Secret-Token"]
    request = webhook_request(post["body"], secret)
    adapter.verify_request(request, post["body"])
    assert adapter.parse(post["body"], "application/json").messages[0].body == "via webhook"

    adapter.delete_webhook()
    bot.telegram_customer_writes(BOT_TOKEN, CHAT, "polled again")
    deliveries, _ = adapter.get_updates(offset=None)
    assert len(deliveries) == 1
    assert len(receiver.posts) == 1


def test_polling_while_a_webhook_is_set_is_refused(bot, telegram, receiver):
    adapter = TelegramAdapter(telegram)
    adapter.set_webhook(f"{receiver.url}/hook/")
    with pytest.raises(PermanentSendError) as caught:
        adapter.get_updates(offset=None)
    assert caught.value.code == "409"
