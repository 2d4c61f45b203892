"""Messenger and Instagram adapters: handshake, signatures, parsing and the reply window.

Deliveries are built as Meta builds them (escaped-unicode JSON, HMAC over the raw bytes).
"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
from django.utils import timezone

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
from inbox.providers.messenger import InstagramAdapter, MessengerAdapter
from tests.providers.meta_helpers import handshake_get, meta_bytes, signature, signed_post

APP_SECRET = "page-app-secret"
PAGE_ID = "1047238459121"
IG_ACCOUNT_ID = "17841400000000000"
PSID = "6523871929347"
SENT_AT_MS = 1458692752478
SENT_AT = datetime(2016, 3, 23, 0, 25, 52, 478000, tzinfo=UTC)


def messenger_inbox(kind=InboxKind.MESSENGER):
    config = {"page_id": PAGE_ID}
    if kind == InboxKind.INSTAGRAM:
        config["instagram_account_id"] = IG_ACCOUNT_ID
    return Inbox(
        name="Page",
        kind=kind,
        provider_config=config,
        provider_secrets={
            "page_token": "page-token",
            "app_secret": APP_SECRET,
            "verify_token": "verify-me",
        },
    )


@pytest.fixture
def adapter():
    return MessengerAdapter(messenger_inbox())


@pytest.fixture
def instagram():
    return InstagramAdapter(messenger_inbox(InboxKind.INSTAGRAM))


def delivery(*events, obj="page", recipient=PAGE_ID):
    return meta_bytes(
        {
            "object": obj,
            "entry": [{"id": recipient, "time": SENT_AT_MS, "messaging": list(events)}],
        }
    )


def event(sender=PSID, recipient=PAGE_ID, **content):
    return {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": SENT_AT_MS,
        **content,
    }


# -- registry, handshake, signatures -----------------------------------------------------------


def test_messenger_and_instagram_inboxes_get_their_adapters():
    assert type(adapter_for(messenger_inbox())) is MessengerAdapter
    assert type(adapter_for(messenger_inbox(InboxKind.INSTAGRAM))) is InstagramAdapter
    assert MessengerAdapter.service_window_hours == 24
    assert MessengerAdapter.human_agent_window_days == 7


@pytest.mark.parametrize("kind", [InboxKind.MESSENGER, InboxKind.INSTAGRAM])
def test_handshake_answers_the_challenge_only_to_our_verify_token(kind):
    adapter = adapter_for(messenger_inbox(kind))
    ok = adapter.handshake(
        handshake_get(mode="subscribe", challenge="42", verify_token="verify-me")
    )
    assert (ok.status_code, ok.content) == (200, b"42")
    refused = adapter.handshake(handshake_get(mode="subscribe", challenge="42", verify_token="x"))
    assert refused.status_code == 403


def test_a_delivery_signed_with_the_app_secret_is_accepted(adapter):
    body = delivery(event(message={"mid": "m_1", "text": "Gr\u00fc\u00dfe"}))
    adapter.verify_request(signed_post(body, signature(APP_SECRET, body)), body)


@pytest.mark.parametrize("header", [None, "sha256=deadbeef", "sha1=abc"])
def test_a_missing_or_wrong_signature_is_refused(adapter, header):
    body = delivery(event(message={"mid": "m_1", "text": "hi"}))
    with pytest.raises(SignatureInvalid):
        adapter.verify_request(signed_post(body, header), body)


def test_a_body_changed_after_signing_is_refused(instagram):
    body = delivery(event(message={"mid": "m_1", "text": "hi"}), obj="instagram")
    tampered = body.replace(b"hi", b"ho")
    with pytest.raises(SignatureInvalid):
        instagram.verify_request(signed_post(tampered, signature(APP_SECRET, body)), tampered)


# -- Messenger messages ------------------------------------------------------------------------


def test_a_text_message_comes_from_the_customers_psid(adapter):
    body = delivery(event(message={"mid": "m_AG5Hz2U", "text": "Gr\u00fc\u00dfe \U0001f600"}))
    parsed = adapter.parse(body, "application/json")
    [message] = parsed.messages
    assert message.external_id == "m_AG5Hz2U"
    assert message.body == "Grüße 😀"
    assert message.sender.external_id == PSID
    assert message.timestamp == SENT_AT
    assert message.is_echo is False
    assert parsed.statuses == []


def test_image_video_audio_and_file_attachments_are_media_to_fetch_by_url(adapter):
    attachments = [
        {"type": kind, "payload": {"url": f"https://cdn.example.test/{kind}/x%20y.bin?sig=1"}}
        for kind in ("image", "video", "audio", "file")
    ]
    body = delivery(event(message={"mid": "m_2", "attachments": attachments}))
    [message] = adapter.parse(body, "").messages
    assert [m.ref for m in message.media] == [a["payload"]["url"] for a in attachments]
    assert message.media[3].filename == "x y.bin"
    assert message.body == ""


def test_a_location_and_a_fallback_link_are_content_attributes(adapter):
    attachments = [
        {
            "type": "location",
            "title": "Plaza Mayor",
            "payload": {"coordinates": {"lat": 40.415, "long": -3.707}},
        },
        {
            "type": "fallback",
            "title": "An article",
            "url": "https://example.test/article",
            "payload": None,
        },
    ]
    [message] = adapter.parse(
        delivery(event(message={"mid": "m_3", "attachments": attachments})), ""
    ).messages
    assert message.media == ()
    assert message.content_attributes["location"] == {
        "latitude": 40.415,
        "longitude": -3.707,
        "name": "Plaza Mayor",
    }
    assert message.content_attributes["shared"] == [
        {"type": "fallback", "title": "An article", "url": "https://example.test/article"}
    ]


def test_an_echo_of_our_own_send_is_outbound_and_names_the_customer(adapter):
    echo = event(
        sender=PAGE_ID,
        recipient=PSID,
        message={"mid": "m_ours", "text": "Thanks!", "is_echo": True, "app_id": 1517776481860111},
    )
    [message] = adapter.parse(delivery(echo), "").messages
    assert message.is_echo is True
    assert message.sender.external_id == PSID
    assert message.external_id == "m_ours"


def test_a_delivery_receipt_marks_each_mid_and_carries_the_watermark(adapter):
    receipt = event(delivery={"mids": ["m_a", "m_b"], "watermark": SENT_AT_MS})
    parsed = adapter.parse(delivery(receipt), "")
    assert parsed.messages == []
    assert [(s.status, s.external_id) for s in parsed.statuses] == [
        ("delivered", "m_a"),
        ("delivered", "m_b"),
    ]
    assert all(s.watermark == SENT_AT for s in parsed.statuses)
    assert all(s.recipient == PSID for s in parsed.statuses)


def test_a_delivery_receipt_without_mids_is_a_watermark(adapter):
    [update] = adapter.parse(delivery(event(delivery={"watermark": SENT_AT_MS})), "").statuses
    assert (update.status, update.external_id, update.watermark) == ("delivered", "", SENT_AT)
    assert update.recipient == PSID


def test_a_read_receipt_is_a_watermark_for_the_customer(adapter):
    [update] = adapter.parse(delivery(event(read={"watermark": SENT_AT_MS})), "").statuses
    assert update.status == "read"
    assert update.external_id == ""
    assert update.watermark == SENT_AT
    assert update.watermark.tzinfo is not None
    assert update.recipient == PSID


def test_events_of_kinds_we_do_not_read_parse_to_nothing(adapter):
    parsed = adapter.parse(delivery(event(optin={"ref": "landing"})), "")
    assert parsed.messages == []
    assert parsed.statuses == []


# -- Instagram ---------------------------------------------------------------------------------


def test_instagram_messages_come_in_an_instagram_envelope(instagram):
    body = delivery(
        event(recipient=IG_ACCOUNT_ID, message={"mid": "aWdfZAG", "text": "hola"}),
        obj="instagram",
        recipient=IG_ACCOUNT_ID,
    )
    [message] = instagram.parse(body, "").messages
    assert (message.external_id, message.body, message.sender.external_id) == (
        "aWdfZAG",
        "hola",
        PSID,
    )


def test_an_instagram_read_receipt_names_the_message(instagram):
    body = delivery(event(read={"mid": "aWdfours"}), obj="instagram")
    [update] = instagram.parse(body, "").statuses
    assert (update.status, update.external_id, update.recipient) == ("read", "aWdfours", PSID)
    assert update.watermark is None


@pytest.mark.parametrize("flag", ["is_deleted", "is_unsupported"])
def test_instagram_deleted_and_unsupported_messages_are_flagged(instagram, flag):
    body = delivery(event(message={"mid": "aWdfgone", flag: True}), obj="instagram")
    [message] = instagram.parse(body, "").messages
    assert message.content_attributes == {flag: True}
    assert message.external_id == "aWdfgone"


def test_each_adapter_refuses_the_other_ones_envelope(adapter, instagram):
    with pytest.raises(PayloadInvalid, match="'page'"):
        adapter.parse(delivery(event(message={"mid": "m", "text": "x"}), obj="instagram"), "")
    with pytest.raises(PayloadInvalid, match="'instagram'"):
        instagram.parse(delivery(event(message={"mid": "m", "text": "x"})), "")


@pytest.mark.parametrize("body", [b"{", b"null", b"<xml/>", "caf\u00e9".encode("latin-1")])
def test_a_body_that_is_not_a_json_object_is_invalid(adapter, body):
    with pytest.raises(PayloadInvalid, match="JSON"):
        adapter.parse(body, "application/json")


def test_a_message_without_a_mid_is_invalid(adapter):
    with pytest.raises(PayloadInvalid, match="mid"):
        adapter.parse(delivery(event(message={"text": "no id"})), "")


# -- the reply window --------------------------------------------------------------------------

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


def conversation(last_wrote):
    return SimpleNamespace(last_customer_message_at=last_wrote)


def test_within_24_hours_a_reply_is_a_response(adapter):
    assert adapter.messaging_type(conversation(NOW - timedelta(hours=23, minutes=59)), NOW) == {
        "messaging_type": "RESPONSE"
    }


@pytest.mark.parametrize("ago", [timedelta(hours=25), timedelta(days=6, hours=23)])
def test_after_24_hours_and_within_7_days_a_reply_carries_the_human_agent_tag(
    adapter, instagram, ago
):
    expected = {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    assert adapter.messaging_type(conversation(NOW - ago), NOW) == expected
    assert instagram.messaging_type(conversation(NOW - ago), NOW) == expected


@pytest.mark.parametrize("last_wrote", [NOW - timedelta(days=7, seconds=1), None])
def test_after_7_days_no_reply_is_possible(adapter, last_wrote):
    with pytest.raises(PermanentSendError, match="7 days"):
        adapter.messaging_type(conversation(last_wrote), NOW)


# -- sending, over HTTP to the provider sandbox ------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def page(db, sandbox, settings):
    """A saved Messenger inbox whose Graph calls go to the sandbox (receipts not posted)."""
    settings.MESSENGER_GRAPH_URL = f"{sandbox.url}/graph"
    sandbox.add_messenger(PAGE_ID, "page-token", APP_SECRET, "http://127.0.0.1:9/", receipts=())
    inbox = messenger_inbox()
    inbox.save()
    return MessengerAdapter(inbox)


@pytest.fixture
def page_conversation(page, conversation_with):
    return conversation_with(page.inbox, PSID, message_id="m_customer-1")


def sends(sandbox, provider="messenger"):
    return [r for r in sandbox.requests(provider) if r["path"].endswith("/messages")]


def wrote_ago(conversation, delta):
    conversation.last_customer_message_at = timezone.now() - delta
    conversation.save(update_fields=["last_customer_message_at"])
    return conversation


def test_a_text_reply_in_the_window_is_a_response_sent_with_the_page_token(
    sandbox, page, page_conversation, reply
):
    result = page.send_message(reply(page_conversation, "Hallo J\u00fcrgen"))

    [request] = sends(sandbox)
    assert request["path"] == "/graph/v21.0/me/messages"
    assert request["query"] == {"access_token": "page-token"}
    assert request["json"] == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hallo Jürgen"},
    }
    assert result.external_id.startswith("m_")


def test_a_reply_days_later_carries_the_human_agent_tag(sandbox, page, page_conversation, reply):
    wrote_ago(page_conversation, timedelta(days=3))
    page.send_message(reply(page_conversation, "Sorry for the wait"))
    [request] = sends(sandbox)
    assert request["json"]["messaging_type"] == "MESSAGE_TAG"
    assert request["json"]["tag"] == "HUMAN_AGENT"


def test_no_call_is_made_once_the_human_agent_window_has_closed(
    sandbox, page, page_conversation, reply
):
    wrote_ago(page_conversation, timedelta(days=8))
    with pytest.raises(PermanentSendError):
        page.send_message(reply(page_conversation, "Too late"))
    assert sends(sandbox) == []


@pytest.mark.django_db(transaction=True)
def test_files_are_sent_by_a_signed_link_the_provider_can_fetch(
    sandbox, page, page_conversation, reply, live_server, settings
):
    settings.PUBLIC_URL = live_server.url
    message = reply(
        page_conversation,
        "Here it is",
        files=[("photo.png", "image/png", PNG), ("terms.pdf", "application/pdf", b"%PDF-1.4")],
    )
    result = page.send_message(message)

    text, image, document = (r["json"]["message"] for r in sends(sandbox))
    assert text == {"text": "Here it is"}
    assert image["attachment"]["type"] == "image"
    assert document["attachment"]["type"] == "file"
    for part in (image, document):
        url = part["attachment"]["payload"]["url"]
        assert url.startswith(f"{live_server.url}/")
        assert part["attachment"]["payload"]["is_reusable"] is True
    assert httpx.get(image["attachment"]["payload"]["url"]).content == PNG
    assert result.external_id.startswith("m_")


def test_a_later_part_refused_after_the_text_left_is_an_unknown_outcome(
    sandbox, page, page_conversation, reply, settings
):
    # Nobody answers at this address: the provider cannot fetch the file and refuses it.
    settings.PUBLIC_URL = "http://127.0.0.1:9"
    message = reply(page_conversation, "See attached", files=[("a.png", "image/png", PNG)])
    with pytest.raises(OutcomeUnknown, match="1 of 2"):
        page.send_message(message)
    assert len(sends(sandbox)) == 2


def test_a_rate_limit_is_retryable_after_the_providers_wait(
    sandbox, page, page_conversation, reply
):
    sandbox.queue_fault("messenger", "429", retry_after=30)
    with pytest.raises(RetryableSendError) as raised:
        page.send_message(reply(page_conversation, "hi"))
    assert raised.value.code == "613"
    assert raised.value.retry_after == 30


@pytest.mark.parametrize("code", [1200, 2, 4, 613])
def test_temporary_errors_are_retryable(sandbox, page, page_conversation, reply, code):
    sandbox.queue_fault("messenger", "error", error=code, status=400)
    with pytest.raises(RetryableSendError):
        page.send_message(reply(page_conversation, "hi"))


def test_a_server_error_is_retryable(sandbox, page, page_conversation, reply):
    sandbox.queue_fault("messenger", "503")
    with pytest.raises(RetryableSendError):
        page.send_message(reply(page_conversation, "hi"))


def test_an_unavailable_person_is_a_permanent_refusal(
    sandbox, page, conversation_with, reply, settings
):
    sandbox.add_messenger(
        PAGE_ID,
        "page-token",
        APP_SECRET,
        "http://127.0.0.1:9/",
        receipts=(),
        unavailable_users=["777777777"],
    )
    conversation = conversation_with(page.inbox, "777777777")
    with pytest.raises(PermanentSendError) as raised:
        page.send_message(reply(conversation, "hi"))
    assert raised.value.code == "551"
    assert "isn't available" in raised.value.reason


@pytest.mark.parametrize(("code", "status"), [(10, 400), (100, 400), (190, 401)])
def test_window_bad_parameter_and_token_errors_are_permanent(
    sandbox, page, page_conversation, reply, code, status
):
    sandbox.queue_fault("messenger", "error", error=code, status=status, message=f"(#{code}) No")
    with pytest.raises(PermanentSendError) as raised:
        page.send_message(reply(page_conversation, "hi"))
    assert raised.value.code == str(code)
    assert raised.value.reason == f"(#{code}) No"


def test_instagram_replies_use_the_same_send_api_with_the_page_token(
    db, sandbox, settings, conversation_with, reply
):
    settings.MESSENGER_GRAPH_URL = f"{sandbox.url}/graph"
    sandbox.add_messenger(
        PAGE_ID,
        "page-token",
        APP_SECRET,
        "http://127.0.0.1:9/",
        object="instagram",
        instagram_account_id=IG_ACCOUNT_ID,
        receipts=(),
    )
    inbox = messenger_inbox(InboxKind.INSTAGRAM)
    inbox.save()
    conversation = wrote_ago(conversation_with(inbox, PSID), timedelta(days=2))
    result = InstagramAdapter(inbox).send_message(reply(conversation, "hola"))

    [request] = sends(sandbox)
    assert request["path"] == "/graph/v21.0/me/messages"
    assert request["json"]["tag"] == "HUMAN_AGENT"
    assert result.external_id.startswith("m_")


# -- media -------------------------------------------------------------------------------------


def test_an_attachment_is_fetched_with_a_plain_get(sandbox, page):
    _, url = sandbox.host_media(PNG, "image/png", "photo.png")
    fetched = page.fetch_media(InboundMedia(ref=url, filename="photo.png"))
    assert fetched.content == PNG
    assert fetched.content_type == "image/png"
    assert fetched.filename == "photo.png"
    [request] = sandbox.requests("media")
    assert "authorization" not in request["headers"]
    assert request["query"] == {}


def test_an_attachment_over_the_limit_is_not_downloaded(sandbox, page, settings):
    settings.INBOUND_MEDIA_MAX_BYTES = 10
    _, url = sandbox.host_media(PNG, "image/png", "photo.png")
    with pytest.raises(PermanentSendError, match="too large"):
        page.fetch_media(InboundMedia(ref=url))


def test_a_gone_attachment_is_a_permanent_failure(sandbox, page):
    with pytest.raises(PermanentSendError):
        page.fetch_media(InboundMedia(ref=f"{sandbox.url}/_media/0000/none.png"))


# -- what the sandbox posts is what we parse ---------------------------------------------------


def test_a_customer_message_posted_by_the_sandbox_verifies_and_parses(sandbox, page, receiver):
    sandbox.add_messenger(PAGE_ID, "page-token", APP_SECRET, f"{receiver.url}/hook/")
    sandbox.messenger_customer_writes(PAGE_ID, PSID, "Gr\u00fc\u00dfe", image=PNG)
    [post] = receiver.wait_for(1)

    request = signed_post(post["body"], post["headers"]["X-Hub-Signature-256"])
    page.verify_request(request, post["body"])
    [message] = page.parse(post["body"], "application/json").messages
    assert message.sender.external_id == PSID
    assert message.body == "Grüße"
    assert page.fetch_media(message.media[0]).content == PNG
