"""WhatsApp Business Cloud API adapter: handshake, signatures and parsing.

Deliveries are built as Meta builds them (escaped-unicode JSON, HMAC over the raw bytes).
"""

import threading
from datetime import UTC, datetime

import pytest

from conversations.models import Message
from inbox.models import Inbox, InboxKind
from inbox.providers import adapter_for
from inbox.providers.base import (
    InboundMedia,
    OutcomeUnknown,
    PayloadInvalid,
    PermanentSendError,
    RetryableSendError,
    SignatureInvalid,
)
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


# -- sending, over HTTP to the provider sandbox ------------------------------------------------

CUSTOMER = "16505551234"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"x" * 64


@pytest.fixture
def wa(db, sandbox, settings):
    """A saved WhatsApp inbox whose Graph calls go to the sandbox (receipts not posted)."""
    settings.WHATSAPP_GRAPH_URL = f"{sandbox.url}/graph"
    sandbox.add_whatsapp(
        PHONE_NUMBER_ID, WABA_ID, "wa-token", APP_SECRET, "http://127.0.0.1:9/", receipts=()
    )
    inbox = whatsapp_inbox()
    inbox.save()
    return WhatsAppAdapter(inbox)


@pytest.fixture
def wa_conversation(wa, conversation_with):
    return conversation_with(
        wa.inbox, CUSTOMER, name="Ana", phone=f"+{CUSTOMER}", message_id="wamid.customer-1"
    )


def sends(sandbox):
    return [r for r in sandbox.requests("whatsapp") if r["path"].endswith("/messages")]


def test_a_text_reply_is_sent_with_the_bearer_token_and_returns_the_wamid(
    sandbox, wa, wa_conversation, reply
):
    result = wa.send_message(reply(wa_conversation, "Hola Ana \u00bfen qu\u00e9 te ayudo?"))

    [request] = sends(sandbox)
    assert request["method"] == "POST"
    assert request["path"] == f"/graph/v21.0/{PHONE_NUMBER_ID}/messages"
    assert request["headers"]["authorization"] == "Bearer wa-token"
    assert request["json"] == {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "text",
        "text": {"body": "Hola Ana ¿en qué te ayudo?"},
    }
    assert result.external_id.startswith("wamid.")
    assert sandbox.whatsapp.sent[result.external_id]["to"] == CUSTOMER


def test_the_graph_version_comes_from_settings(sandbox, wa, wa_conversation, reply, settings):
    settings.META_GRAPH_VERSION = "v19.0"
    wa.send_message(reply(wa_conversation, "hi"))
    assert sends(sandbox)[0]["path"] == f"/graph/v19.0/{PHONE_NUMBER_ID}/messages"


def test_a_reply_to_a_message_quotes_it_by_context(sandbox, wa, wa_conversation, reply):
    quoted = wa_conversation.messages.get(external_id="wamid.customer-1")
    wa.send_message(reply(wa_conversation, "Yes", in_reply_to=quoted))
    assert sends(sandbox)[0]["json"]["context"] == {"message_id": "wamid.customer-1"}


def test_files_are_uploaded_then_sent_by_id_with_the_text_as_the_first_caption(
    sandbox, wa, wa_conversation, reply
):
    message = reply(
        wa_conversation,
        "Your invoice and the photo",
        files=[("photo.png", "image/png", PNG), ("invoice.pdf", "application/pdf", PDF)],
    )
    result = wa.send_message(message)

    uploads = [r for r in sandbox.requests("whatsapp") if r["path"].endswith("/media")]
    assert [u["path"] for u in uploads] == [f"/graph/v21.0/{PHONE_NUMBER_ID}/media"] * 2
    assert [u["form"] for u in uploads] == [
        {"messaging_product": "whatsapp", "type": "image/png"},
        {"messaging_product": "whatsapp", "type": "application/pdf"},
    ]
    assert [u["files"]["file"]["size"] for u in uploads] == [len(PNG), len(PDF)]
    assert uploads[1]["files"]["file"]["filename"] == "invoice.pdf"
    assert all(u["headers"]["authorization"] == "Bearer wa-token" for u in uploads)

    first, second = (r["json"] for r in sends(sandbox))
    assert first["type"] == "image"
    assert first["image"]["caption"] == "Your invoice and the photo"
    assert sandbox.media(first["image"]["id"])["content"] == PNG
    assert second["type"] == "document"
    assert second["document"]["filename"] == "invoice.pdf"
    assert "caption" not in second["document"]
    assert sandbox.media(second["document"]["id"])["content"] == PDF
    # The result names the first part, the one carrying the text.
    assert sandbox.whatsapp.sent[result.external_id]["data"] == first


def test_text_with_a_file_that_takes_no_caption_goes_first_on_its_own(
    sandbox, wa, wa_conversation, reply
):
    result = wa.send_message(
        reply(wa_conversation, "Listen to this", files=[("note.ogg", "audio/ogg", b"OggS" * 8)])
    )
    text, audio = (r["json"] for r in sends(sandbox))
    assert text["text"] == {"body": "Listen to this"}
    assert audio["type"] == "audio"
    assert set(audio["audio"]) == {"id"}
    assert sandbox.whatsapp.sent[result.external_id]["data"] == text


def test_a_template_is_sent_by_name_language_and_body_parameters(
    sandbox, wa, wa_conversation, reply
):
    template = {"name": "order_update", "language": "es", "parameters": ["Ana", "A-1234"]}
    result = wa.send_message(reply(wa_conversation, content_attributes={"template": template}))

    [request] = sends(sandbox)
    assert request["json"]["type"] == "template"
    assert request["json"]["template"] == {
        "name": "order_update",
        "language": {"code": "es"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-1234"}],
            }
        ],
    }
    assert result.external_id.startswith("wamid.")


def test_a_rate_limit_is_retryable_after_the_providers_wait(sandbox, wa, wa_conversation, reply):
    sandbox.queue_fault("whatsapp", "429", retry_after=7)
    with pytest.raises(RetryableSendError) as raised:
        wa.send_message(reply(wa_conversation, "hi"))
    assert raised.value.code == "130429"
    assert raised.value.retry_after == 7


def test_a_server_error_is_retryable(sandbox, wa, wa_conversation, reply):
    sandbox.queue_fault("whatsapp", "500")
    with pytest.raises(RetryableSendError):
        wa.send_message(reply(wa_conversation, "hi"))


@pytest.mark.parametrize("code", [131056, 80007, 4])
def test_throughput_and_call_limits_are_retryable(sandbox, wa, wa_conversation, reply, code):
    sandbox.queue_fault("whatsapp", "error", error=code, status=400, message=f"(#{code}) Slow")
    with pytest.raises(RetryableSendError) as raised:
        wa.send_message(reply(wa_conversation, "hi"))
    assert raised.value.code == str(code)


@pytest.mark.parametrize("code", [131047, 131026, 131030, 131051, 100, 131009])
def test_refusals_are_permanent_with_the_providers_reason(
    sandbox, wa, wa_conversation, reply, code
):
    sandbox.queue_fault("whatsapp", "error", error=code, status=400, message=f"(#{code}) No")
    with pytest.raises(PermanentSendError) as raised:
        wa.send_message(reply(wa_conversation, "hi"))
    assert raised.value.code == str(code)
    assert f"(#{code}) No" in raised.value.reason


def test_an_expired_token_is_permanent(sandbox, wa, wa_conversation, reply):
    wa.inbox.provider_secrets = {**wa.inbox.provider_secrets, "access_token": "expired"}
    with pytest.raises(PermanentSendError) as raised:
        wa.send_message(reply(wa_conversation, "hi"))
    assert raised.value.code == "190"


def test_an_unsent_template_parameter_mismatch_is_permanent(sandbox, wa, wa_conversation, reply):
    template = {"name": "order_update", "language": "es", "parameters": ["Ana"]}
    with pytest.raises(PermanentSendError) as raised:
        wa.send_message(reply(wa_conversation, content_attributes={"template": template}))
    assert raised.value.code == "132000"


def test_a_connection_dropped_mid_answer_is_an_unknown_outcome(sandbox, wa, wa_conversation, reply):
    sandbox.queue_fault("whatsapp", "drop", process=True)
    with pytest.raises(OutcomeUnknown):
        wa.send_message(reply(wa_conversation, "hi"))


def test_a_provider_that_cannot_be_reached_is_retryable(wa, wa_conversation, reply, settings):
    settings.WHATSAPP_GRAPH_URL = "http://127.0.0.1:9/graph"
    with pytest.raises(RetryableSendError):
        wa.send_message(reply(wa_conversation, "hi"))


def test_when_a_later_part_fails_after_the_first_left_the_outcome_is_unknown(
    sandbox, wa, wa_conversation, reply
):
    message = reply(
        wa_conversation,
        "two photos",
        files=[("a.png", "image/png", PNG), ("b.png", "image/png", PNG)],
    )
    # The send runs in a thread, which cannot see this test's uncommitted rows.
    message = (
        Message.objects.select_related("conversation__contact_identity")
        .prefetch_related("attachments")
        .get(pk=message.pk)
    )
    sandbox.queue_fault("whatsapp", "hold", path="/messages$")
    outcome = {}

    def send():
        try:
            outcome["result"] = wa.send_message(message)
        except Exception as exc:  # the assertion below names what was expected
            outcome["error"] = exc

    worker = threading.Thread(target=send)
    worker.start()
    sandbox.wait_for_held(1, timeout=10)
    sandbox.queue_fault("whatsapp", "500", path="/messages$")
    sandbox.release()
    worker.join(10)

    assert isinstance(outcome.get("error"), OutcomeUnknown)
    assert "1 of 2" in outcome["error"].reason
    assert len(sandbox.whatsapp.sent) == 1


def test_mark_read_posts_the_read_status_for_the_customers_message(sandbox, wa, wa_conversation):
    inbound = wa_conversation.messages.get(external_id="wamid.customer-1")
    assert wa.mark_read(inbound) is None
    [request] = sends(sandbox)
    assert request["json"] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.customer-1",
    }
    assert request["headers"]["authorization"] == "Bearer wa-token"


# -- media and templates -----------------------------------------------------------------------


def test_inbound_media_is_fetched_by_id_then_by_url_with_the_token(sandbox, wa):
    media_id, _ = sandbox.host_media(PDF, "application/pdf", "menu.pdf", owner=PHONE_NUMBER_ID)
    fetched = wa.fetch_media(
        InboundMedia(ref=media_id, content_type="application/pdf", filename="menu.pdf")
    )
    assert fetched.content == PDF
    assert fetched.content_type == "application/pdf"
    assert fetched.filename == "menu.pdf"
    info, download = sandbox.requests("whatsapp")
    assert info["path"] == f"/graph/v21.0/{media_id}"
    assert download["query"]["mid"] == media_id
    assert download["headers"]["authorization"] == "Bearer wa-token"


def test_an_expired_media_link_is_asked_for_again(sandbox, wa):
    media_id, _ = sandbox.host_media(PNG, "image/png", owner=PHONE_NUMBER_ID)
    sandbox.queue_fault(
        "whatsapp", "error", path="attachments", status=404, error={"error": "expired"}
    )
    fetched = wa.fetch_media(InboundMedia(ref=media_id))
    assert fetched.content == PNG
    assert [r["path"].endswith(media_id) for r in sandbox.requests("whatsapp")] == [
        True,
        False,
        True,
        False,
    ]


def test_a_link_that_stays_expired_is_a_permanent_failure(wa, sandbox):
    sandbox.media_url_ttl = -60
    media_id, _ = sandbox.host_media(PNG, "image/png", owner=PHONE_NUMBER_ID)
    with pytest.raises(PermanentSendError):
        wa.fetch_media(InboundMedia(ref=media_id))
    assert len(sandbox.requests("whatsapp")) == 4


def test_media_larger_than_the_limit_is_not_downloaded(sandbox, wa, settings):
    settings.INBOUND_MEDIA_MAX_BYTES = 16
    media_id, _ = sandbox.host_media(PDF, "application/pdf", owner=PHONE_NUMBER_ID)
    with pytest.raises(PermanentSendError, match="too large"):
        wa.fetch_media(InboundMedia(ref=media_id))


def test_an_unknown_media_id_is_a_permanent_failure(sandbox, wa):
    with pytest.raises(PermanentSendError):
        wa.fetch_media(InboundMedia(ref="404404404"))


def test_templates_are_listed_across_every_page(sandbox, wa):
    templates = wa.fetch_templates()

    pages = [r for r in sandbox.requests("whatsapp") if "message_templates" in r["path"]]
    assert len(pages) == 3
    assert pages[0]["path"] == f"/graph/v21.0/{WABA_ID}/message_templates"
    assert all(p["headers"]["authorization"] == "Bearer wa-token" for p in pages)
    assert [t["name"] for t in templates] == [
        "hello_world",
        "order_update",
        "appointment_reminder",
        "spring_sale",
        "old_offer",
    ]
    assert templates[1] == {
        "name": "order_update",
        "language": "es",
        "status": "APPROVED",
        "category": "UTILITY",
        "body_text": "Hola {{1}}, tu pedido {{2}} va en camino.",
        "parameter_count": 2,
    }
    assert templates[0]["parameter_count"] == 0
    assert templates[2]["parameter_count"] == 3
    assert templates[3]["status"] == "PENDING"


# -- what the sandbox posts is what we parse ---------------------------------------------------


def test_a_customer_message_and_our_receipts_posted_by_the_sandbox_verify_and_parse(
    sandbox, wa, wa_conversation, reply, receiver
):
    sandbox.add_whatsapp(
        PHONE_NUMBER_ID,
        WABA_ID,
        "wa-token",
        APP_SECRET,
        f"{receiver.url}/hook/",
        receipts=("sent",),
    )
    sandbox.whatsapp_customer_writes(
        PHONE_NUMBER_ID, CUSTOMER, "Gr\u00fc\u00dfe", name="J\u00fcrgen"
    )
    result = wa.send_message(reply(wa_conversation, "Hallo"))
    first, second = receiver.wait_for(2)

    for post in (first, second):
        request = signed_post(post["body"], post["headers"]["X-Hub-Signature-256"])
        wa.verify_request(request, post["body"])
    [message] = wa.parse(first["body"], "application/json").messages
    assert (message.body, message.sender.name, message.sender.phone) == (
        "Grüße",
        "Jürgen",
        f"+{CUSTOMER}",
    )
    [status] = wa.parse(second["body"], "application/json").statuses
    assert (status.status, status.external_id) == ("sent", result.external_id)
