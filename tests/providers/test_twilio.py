"""The Twilio adapters read deliveries exactly as Twilio posts and signs them."""

import base64
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import httpx
import pytest
from django.test import RequestFactory
from twilio.request_validator import RequestValidator

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
from inbox.providers.twilio import TwilioSmsAdapter, TwilioWhatsAppAdapter

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "twilio-auth-token-0123456789abcd"
PATH = "/webhooks/twilio_sms/public-tok/"
FORM = "application/x-www-form-urlencoded"


def sms_inbox(**secrets):
    return Inbox(
        name="SMS",
        kind=InboxKind.TWILIO_SMS,
        public_token="public-tok",
        provider_config={"account_sid": ACCOUNT_SID, "from_number": "+15005550006"},
        provider_secrets={"auth_token": AUTH_TOKEN, **secrets},
    )


def whatsapp_inbox():
    return Inbox(
        name="WhatsApp via Twilio",
        kind=InboxKind.TWILIO_WHATSAPP,
        public_token="wa-tok",
        provider_config={"account_sid": ACCOUNT_SID, "from_number": "whatsapp:+15005550006"},
        provider_secrets={"auth_token": AUTH_TOKEN},
    )


@pytest.fixture
def sms():
    return TwilioSmsAdapter(sms_inbox())


@pytest.fixture
def whatsapp():
    return TwilioWhatsAppAdapter(whatsapp_inbox())


@pytest.fixture
def public_url(settings):
    settings.PUBLIC_URL = "https://inbox.example.test"
    return settings.PUBLIC_URL


def twilio_signature(url, params, token=AUTH_TOKEN):
    """As Twilio signs: the URL, then every parameter as key+value, sorted by key."""
    signed = url + "".join(f"{key}{value}" for key, value in sorted(params.items()))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def inbound_sms(**fields):
    return {
        "ToCountry": "US",
        "SmsMessageSid": "SM" + "a" * 32,
        "NumMedia": "0",
        "SmsSid": "SM" + "a" * 32,
        "SmsStatus": "received",
        "Body": "Hello there",
        "To": "+15005550006",
        "NumSegments": "1",
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": "+14155551234",
        "ApiVersion": "2010-04-01",
        **fields,
    }


def inbound_whatsapp(**fields):
    return inbound_sms(
        From="whatsapp:+34600111222",
        To="whatsapp:+15005550006",
        ProfileName="Lucía",
        WaId="34600111222",
        **fields,
    )


def status_callback(status, **fields):
    return {
        "SmsSid": "SM" + "b" * 32,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": "+14155551234",
        "MessageSid": "SM" + "b" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": "+15005550006",
        "ApiVersion": "2010-04-01",
        **fields,
    }


def encoded(params):
    return urlencode(params).encode()


def signed_request(params, *, url, path=PATH, signature=None, body=None):
    body = encoded(params) if body is None else body
    request = RequestFactory().post(
        path,
        data=body,
        content_type=FORM,
        HTTP_X_TWILIO_SIGNATURE=signature or twilio_signature(url, params),
    )
    return request, body


def parse(adapter, params):
    return adapter.parse(encoded(params), FORM)


def test_twilio_inboxes_get_the_twilio_adapters():
    assert ADAPTERS["twilio_sms"] is TwilioSmsAdapter
    assert ADAPTERS["twilio_whatsapp"] is TwilioWhatsAppAdapter
    assert isinstance(adapter_for(sms_inbox()), TwilioSmsAdapter)
    assert isinstance(adapter_for(whatsapp_inbox()), TwilioWhatsAppAdapter)


def test_sms_needs_consent_and_whatsapp_has_a_24_hour_window():
    assert TwilioSmsAdapter.requires_consent is True
    assert TwilioSmsAdapter.service_window_hours is None
    assert TwilioWhatsAppAdapter.service_window_hours == 24


# -- verify ---------------------------------------------------------------------------------


def test_request_signed_over_the_public_url_is_accepted(sms, public_url):
    params = inbound_sms()
    request, body = signed_request(params, url=public_url + PATH)
    sms.verify_request(request, body)


def test_signature_agrees_with_twilios_own_validator(sms, public_url):
    params = inbound_sms(Body="Grüße & <3 + more=yes")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(public_url + PATH, params)
    request, body = signed_request(params, url=public_url + PATH, signature=signature)
    sms.verify_request(request, body)


def test_query_string_is_part_of_the_signed_url(sms, public_url):
    params = inbound_sms()
    path = PATH + "?attempt=2&x=%20y"
    request, body = signed_request(params, url=public_url + path, path=path)
    sms.verify_request(request, body)
    request, body = signed_request(params, url=public_url + PATH, path=path)
    with pytest.raises(SignatureInvalid):
        sms.verify_request(request, body)


def test_signature_over_the_url_with_the_default_port_is_accepted(sms, public_url):
    params = inbound_sms()
    request, body = signed_request(params, url="https://inbox.example.test:443" + PATH)
    sms.verify_request(request, body)


def test_signature_without_the_port_is_accepted_when_the_public_url_names_it(sms, settings):
    settings.PUBLIC_URL = "https://inbox.example.test:443"
    params = inbound_sms()
    request, body = signed_request(params, url="https://inbox.example.test" + PATH)
    sms.verify_request(request, body)


def test_plain_http_default_port_is_80(sms, settings):
    settings.PUBLIC_URL = "http://inbox.example.test"
    params = inbound_sms()
    request, body = signed_request(params, url="http://inbox.example.test:80" + PATH)
    sms.verify_request(request, body)


def test_a_port_that_is_not_the_default_is_never_dropped(sms, settings):
    settings.PUBLIC_URL = "http://127.0.0.1:8000"
    params = inbound_sms()
    request, body = signed_request(params, url="http://127.0.0.1:8000" + PATH)
    sms.verify_request(request, body)
    request, body = signed_request(params, url="http://127.0.0.1" + PATH)
    with pytest.raises(SignatureInvalid):
        sms.verify_request(request, body)


def test_changed_body_is_refused(sms, public_url):
    request, _ = signed_request(inbound_sms(), url=public_url + PATH)
    tampered = encoded(inbound_sms(Body="Send me everything"))
    with pytest.raises(SignatureInvalid):
        sms.verify_request(request, tampered)


def test_signature_made_with_another_token_is_refused(sms, public_url):
    params = inbound_sms()
    forged = twilio_signature(public_url + PATH, params, token="not-the-token")
    request, body = signed_request(params, url=public_url + PATH, signature=forged)
    with pytest.raises(SignatureInvalid):
        sms.verify_request(request, body)


def test_signature_over_another_host_is_refused(sms, public_url):
    params = inbound_sms()
    request, body = signed_request(params, url="https://attacker.example" + PATH)
    with pytest.raises(SignatureInvalid):
        sms.verify_request(request, body)


def test_request_without_a_signature_is_refused(sms, public_url):
    body = encoded(inbound_sms())
    request = RequestFactory().post(PATH, data=body, content_type=FORM)
    with pytest.raises(SignatureInvalid):
        sms.verify_request(request, body)


def test_inbox_without_an_auth_token_accepts_nothing(public_url):
    adapter = TwilioSmsAdapter(sms_inbox(auth_token=""))
    params = inbound_sms()
    request, body = signed_request(params, url=public_url + PATH, signature=None)
    with pytest.raises(SignatureInvalid):
        adapter.verify_request(request, body)


# -- delivery key ---------------------------------------------------------------------------


def test_inbound_message_is_named_by_its_sid(sms):
    assert sms.delivery_key(encoded(inbound_sms()), FORM) == "sid:SM" + "a" * 32


def test_each_status_of_a_message_is_its_own_delivery(sms):
    keys = {
        sms.delivery_key(encoded(status_callback(status)), FORM)
        for status in ("sent", "delivered", "read")
    }
    assert keys == {f"status:SM{'b' * 32}:{status}" for status in ("sent", "delivered", "read")}


def test_the_same_status_twice_has_the_same_key(sms):
    first = sms.delivery_key(encoded(status_callback("delivered")), FORM)
    again = sms.delivery_key(encoded(status_callback("delivered", ApiVersion="2010-04-01")), FORM)
    assert first == again


def test_delivery_without_a_sid_is_named_by_its_bytes(sms):
    assert sms.delivery_key(b"Body=hello", FORM).startswith("sha256:")


# -- parse: inbound -------------------------------------------------------------------------


def test_sms_becomes_a_message_from_the_phone_number(sms):
    delivery = parse(sms, inbound_sms())
    assert delivery.statuses == []
    [message] = delivery.messages
    assert message.external_id == "SM" + "a" * 32
    assert message.body == "Hello there"
    assert message.sender.external_id == "+14155551234"
    assert message.sender.phone == "+14155551234"
    assert message.media == ()
    assert message.consent_keyword == ""


def test_whatsapp_sender_is_the_bare_number_with_the_profile_name(whatsapp):
    [message] = parse(whatsapp, inbound_whatsapp()).messages
    assert message.sender.external_id == "+34600111222"
    assert message.sender.phone == "+34600111222"
    assert message.sender.name == "Lucía"


def test_mms_media_become_files_to_fetch(sms):
    params = inbound_sms(
        NumMedia="2",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME0",
        MediaContentType0="image/jpeg",
        MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1",
        MediaContentType1="application/pdf",
        Body="",
    )
    [message] = parse(sms, params).messages
    assert message.body == ""
    assert [(m.ref, m.content_type) for m in message.media] == [
        (params["MediaUrl0"], "image/jpeg"),
        (params["MediaUrl1"], "application/pdf"),
    ]


def test_whatsapp_location_is_kept_as_an_attribute(whatsapp):
    params = inbound_whatsapp(Body="", Latitude="40.4168", Longitude="-3.7038", Label="Sol")
    [message] = parse(whatsapp, params).messages
    location = message.content_attributes["location"]
    assert (location["latitude"], location["longitude"], location["label"]) == (
        40.4168,
        -3.7038,
        "Sol",
    )


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        ("  Stop \n", "stop"),
        ("STOPALL", "stop"),
        ("unsubscribe", "stop"),
        ("Cancel", "stop"),
        ("END", "stop"),
        ("quit", "stop"),
        ("START", "start"),
        ("yes", "start"),
        ("Unstop", "start"),
        ("HELP", "help"),
        ("info", "help"),
        ("stop please", ""),
        ("please stop", ""),
        ("STOP.", ""),
        ("stopping", ""),
        ("", ""),
    ],
)
def test_single_word_sms_keywords_change_consent(sms, body, keyword):
    [message] = parse(sms, inbound_sms(Body=body)).messages
    assert message.consent_keyword == keyword
    assert message.body == body


@pytest.mark.parametrize(("opt_out", "keyword"), [("STOP", "stop"), ("START", "start")])
def test_twilio_opt_out_type_is_honoured_for_any_wording(sms, opt_out, keyword):
    [message] = parse(sms, inbound_sms(Body="Arrêt", OptOutType=opt_out)).messages
    assert message.consent_keyword == keyword


def test_on_whatsapp_a_plain_stop_is_only_a_word(whatsapp):
    [message] = parse(whatsapp, inbound_whatsapp(Body="STOP")).messages
    assert message.consent_keyword == ""


def test_on_whatsapp_twilio_opt_out_type_is_honoured(whatsapp):
    [message] = parse(whatsapp, inbound_whatsapp(Body="STOP", OptOutType="STOP")).messages
    assert message.consent_keyword == "stop"


def test_inbound_message_that_reports_a_status_is_still_a_message(sms):
    params = inbound_sms(MessageStatus="received")
    delivery = parse(sms, params)
    assert len(delivery.messages) == 1
    assert delivery.statuses == []


# -- parse: status callbacks ----------------------------------------------------------------


@pytest.mark.parametrize("status", ["sent", "delivered", "read"])
def test_status_callback_is_a_receipt_for_our_message(sms, status):
    delivery = parse(sms, status_callback(status))
    assert delivery.messages == []
    [receipt] = delivery.statuses
    assert receipt.status == status
    assert receipt.external_id == "SM" + "b" * 32
    assert receipt.recipient == "+14155551234"
    assert receipt.error_code == ""


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_failed_and_undelivered_are_failures_with_twilios_code(sms, status):
    [receipt] = parse(sms, status_callback(status, ErrorCode="30003")).statuses
    assert receipt.status == "failed"
    assert receipt.error_code == "30003"


@pytest.mark.parametrize("status", ["queued", "accepted", "sending", "scheduled"])
def test_statuses_before_sent_are_ignored(sms, status):
    delivery = parse(sms, status_callback(status))
    assert delivery.messages == []
    assert delivery.statuses == []


def test_whatsapp_receipt_names_the_bare_number(whatsapp):
    params = status_callback("read", To="whatsapp:+34600111222")
    [receipt] = parse(whatsapp, params).statuses
    assert receipt.recipient == "+34600111222"


def test_delivery_without_a_message_sid_is_invalid(sms):
    params = inbound_sms()
    for key in ("MessageSid", "SmsSid", "SmsMessageSid"):
        params.pop(key)
    with pytest.raises(PayloadInvalid):
        parse(sms, params)


def test_delivery_that_is_not_a_form_is_invalid(sms):
    with pytest.raises(PayloadInvalid):
        sms.parse(b"\xff\xfe not a form", FORM)


def test_accepted_delivery_is_answered_with_empty_twiml(sms):
    body, content_type = sms.webhook_response()
    assert body == b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert content_type == "text/xml"


# -- sending, over HTTP to the sandbox --------------------------------------------------------

SMS_NUMBER = "+15005550006"
CUSTOMER = "+14155551234"
WA_CUSTOMER = "+34600111222"
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg bytes" * 20
PDF = b"%PDF-1.7\n" + b"pdf bytes" * 20
CONTENT_SID = "HX" + "0123456789abcdef" * 2


def webhook_path(inbox):
    return f"/webhooks/{inbox.kind}/{inbox.public_token}/"


@pytest.fixture
def sms_saved(db):
    inbox = sms_inbox()
    inbox.save()
    return inbox


@pytest.fixture
def whatsapp_saved(db):
    inbox = whatsapp_inbox()
    inbox.save()
    return inbox


@pytest.fixture
def twilio(sandbox, settings, receiver, sms_saved, whatsapp_saved):
    """The sandbox's Twilio with our two numbers; our public URL is the receiver."""
    settings.TWILIO_API_URL = f"{sandbox.url}/twilio"
    settings.PUBLIC_URL = receiver.url
    sandbox.add_twilio(
        ACCOUNT_SID,
        AUTH_TOKEN,
        numbers={
            SMS_NUMBER: receiver.url + webhook_path(sms_saved),
            "whatsapp:" + SMS_NUMBER: receiver.url + webhook_path(whatsapp_saved),
        },
    )
    return sandbox


@pytest.fixture
def sms_chat(sms_saved, conversation_with):
    return conversation_with(sms_saved, CUSTOMER)


@pytest.fixture
def whatsapp_chat(whatsapp_saved, conversation_with):
    return conversation_with(whatsapp_saved, WA_CUSTOMER, name="Lucía")


def sent_forms(sandbox):
    return [r for r in sandbox.requests("twilio") if r["path"].endswith("/Messages.json")]


def as_request(post):
    """A Django request carrying exactly what Twilio posted to our webhook."""
    request = RequestFactory().post(
        post["path"],
        data=post["body"],
        content_type=FORM,
        HTTP_X_TWILIO_SIGNATURE=post["headers"]["X-Twilio-Signature"],
    )
    return request, post["body"]


def test_sms_reply_is_posted_as_a_form_with_basic_auth(
    twilio, receiver, sms_saved, sms_chat, outbound
):
    result = TwilioSmsAdapter(sms_saved).send_message(outbound(sms_chat, "Your order shipped"))
    [request] = sent_forms(twilio)
    assert request["method"] == "POST"
    assert request["path"] == f"/twilio/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request["form"] == {
        "To": CUSTOMER,
        "From": SMS_NUMBER,
        "Body": "Your order shipped",
        "StatusCallback": f"{receiver.url}/webhooks/twilio_sms/public-tok/",
    }
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request["headers"]["authorization"] == f"Basic {credentials}"
    assert result.external_id.startswith("SM")
    assert result.external_id in twilio.twilio.accounts[ACCOUNT_SID].messages


def test_receipts_come_back_signed_to_the_inbox_webhook(
    twilio, receiver, sms_saved, sms_chat, outbound
):
    adapter = TwilioSmsAdapter(sms_saved)
    result = adapter.send_message(outbound(sms_chat, "Your order shipped"))
    posts = receiver.wait_for(3)
    assert {post["path"] for post in posts} == {webhook_path(sms_saved)}
    receipts = []
    for post in posts:
        request, body = as_request(post)
        adapter.verify_request(request, body)
        receipts += adapter.parse(body, FORM).statuses
    assert [(r.status, r.external_id) for r in receipts] == [
        ("sent", result.external_id),
        ("delivered", result.external_id),
    ]


def test_whatsapp_reply_names_both_ends_as_whatsapp(
    twilio, whatsapp_saved, whatsapp_chat, outbound
):
    TwilioWhatsAppAdapter(whatsapp_saved).send_message(outbound(whatsapp_chat, "Hola Lucía"))
    [request] = sent_forms(twilio)
    assert request["form"]["To"] == "whatsapp:" + WA_CUSTOMER
    assert request["form"]["From"] == "whatsapp:" + SMS_NUMBER
    assert request["form"]["Body"] == "Hola Lucía"
    assert request["form"]["StatusCallback"].endswith(webhook_path(whatsapp_saved))


def test_whatsapp_template_goes_by_content_sid_and_variables(
    twilio, whatsapp_saved, whatsapp_chat, outbound
):
    template = {"content_sid": CONTENT_SID, "variables": {"1": "Lucía", "2": "12:00"}}
    message = outbound(whatsapp_chat, "Hola Lucía…", content_attributes={"template": template})
    result = TwilioWhatsAppAdapter(whatsapp_saved).send_message(message)
    [request] = sent_forms(twilio)
    assert request["form"]["ContentSid"] == CONTENT_SID
    assert json.loads(request["form"]["ContentVariables"]) == {"1": "Lucía", "2": "12:00"}
    assert "Body" not in request["form"]
    assert result.external_id


def test_more_files_than_twilio_takes_are_refused_before_calling(
    twilio, sms_saved, sms_chat, outbound
):
    files = [(f"p{n}.jpg", JPEG, "image/jpeg") for n in range(11)]
    with pytest.raises(PermanentSendError):
        TwilioSmsAdapter(sms_saved).send_message(outbound(sms_chat, "many", files=files))
    assert sent_forms(twilio) == []


def test_opted_out_recipient_is_a_permanent_failure(twilio, sms_saved, sms_chat, outbound):
    twilio.twilio.accounts[ACCOUNT_SID].opted_out.add(CUSTOMER)
    with pytest.raises(PermanentSendError) as caught:
        TwilioSmsAdapter(sms_saved).send_message(outbound(sms_chat, "hi"))
    assert caught.value.code == "21610"
    assert caught.value.reason == "Attempt to send to unsubscribed recipient"


def test_invalid_number_is_a_permanent_failure(twilio, sms_saved, conversation_with, outbound):
    nowhere = conversation_with(sms_saved, "+12")
    with pytest.raises(PermanentSendError) as caught:
        TwilioSmsAdapter(sms_saved).send_message(outbound(nowhere, "hi"))
    assert caught.value.code == "21211"


def test_wrong_credentials_are_a_permanent_failure(twilio, sms_saved, sms_chat, outbound):
    sms_saved.provider_secrets = {"auth_token": "not-the-token"}
    with pytest.raises(PermanentSendError) as caught:
        TwilioSmsAdapter(sms_saved).send_message(outbound(sms_chat, "hi"))
    assert caught.value.code == "20003"


def test_outside_the_whatsapp_window_is_a_permanent_failure(
    twilio, whatsapp_saved, whatsapp_chat, outbound
):
    message = "Message failed: outside the allowed window"
    twilio.queue_fault("twilio", "error", error=63016, status=400, message=message)
    with pytest.raises(PermanentSendError) as caught:
        TwilioWhatsAppAdapter(whatsapp_saved).send_message(outbound(whatsapp_chat, "hi"))
    assert (caught.value.code, caught.value.reason) == ("63016", message)


def test_rate_limit_is_retryable_after_twilios_wait(twilio, sms_saved, sms_chat, outbound):
    twilio.queue_fault("twilio", "429", retry_after=5)
    with pytest.raises(RetryableSendError) as caught:
        TwilioSmsAdapter(sms_saved).send_message(outbound(sms_chat, "hi"))
    assert caught.value.code == "20429"
    assert caught.value.retry_after == 5.0


@pytest.mark.parametrize("fault", ["500", "503"])
def test_server_error_is_retryable(twilio, sms_saved, sms_chat, outbound, fault):
    twilio.queue_fault("twilio", fault)
    with pytest.raises(RetryableSendError):
        TwilioSmsAdapter(sms_saved).send_message(outbound(sms_chat, "hi"))


def test_connection_dropped_after_twilio_took_it_is_an_unknown_outcome(
    twilio, sms_saved, sms_chat, outbound
):
    twilio.queue_fault("twilio", "drop", process=True)
    with pytest.raises(OutcomeUnknown):
        TwilioSmsAdapter(sms_saved).send_message(outbound(sms_chat, "hi"))


def test_files_go_as_signed_links_twilio_can_fetch(
    sandbox, settings, live_server, sms_saved, conversation_with, outbound
):
    settings.TWILIO_API_URL = f"{sandbox.url}/twilio"
    settings.PUBLIC_URL = live_server.url
    sandbox.add_twilio(ACCOUNT_SID, AUTH_TOKEN, numbers=[SMS_NUMBER])
    chat = conversation_with(sms_saved, CUSTOMER)
    message = outbound(
        chat,
        "Your documents",
        files=[("photo.jpg", JPEG, "image/jpeg"), ("invoice.pdf", PDF, "application/pdf")],
    )
    result = TwilioSmsAdapter(sms_saved).send_message(message)
    assert result.external_id.startswith("MM")
    [request] = sent_forms(sandbox)
    links = request["form"]["MediaUrl"]
    assert len(links) == 2
    assert all(link.startswith(live_server.url + "/") for link in links)
    assert [httpx.get(link).content for link in links] == [JPEG, PDF]


# -- inbound from the sandbox, and media -----------------------------------------------------


def test_customer_sms_posted_by_twilio_is_accepted_and_read(twilio, receiver, sms_saved):
    adapter = TwilioSmsAdapter(sms_saved)
    twilio.twilio_customer_writes(ACCOUNT_SID, CUSTOMER, SMS_NUMBER, "Where is my order?")
    [post] = receiver.wait_for(1)
    request, body = as_request(post)
    adapter.verify_request(request, body)
    [message] = adapter.parse(body, FORM).messages
    assert message.body == "Where is my order?"
    assert message.sender.phone == CUSTOMER
    assert adapter.delivery_key(body, FORM) == f"sid:{message.external_id}"


def test_customer_stop_posted_by_twilio_opts_out(twilio, receiver, sms_saved):
    adapter = TwilioSmsAdapter(sms_saved)
    twilio.twilio_customer_writes(ACCOUNT_SID, CUSTOMER, SMS_NUMBER, "Stop")
    [post] = receiver.wait_for(1)
    request, body = as_request(post)
    adapter.verify_request(request, body)
    [message] = adapter.parse(body, FORM).messages
    assert message.consent_keyword == "stop"


def test_customer_whatsapp_posted_by_twilio_is_from_the_bare_number(
    twilio, receiver, whatsapp_saved
):
    adapter = TwilioWhatsAppAdapter(whatsapp_saved)
    twilio.twilio_customer_writes(
        ACCOUNT_SID,
        "whatsapp:" + WA_CUSTOMER,
        "whatsapp:" + SMS_NUMBER,
        "Hola",
        profile_name="Lucía",
    )
    [post] = receiver.wait_for(1)
    assert post["path"] == webhook_path(whatsapp_saved)
    request, body = as_request(post)
    adapter.verify_request(request, body)
    [message] = adapter.parse(body, FORM).messages
    assert (message.sender.external_id, message.sender.name) == (WA_CUSTOMER, "Lucía")


def test_mms_media_is_fetched_from_its_url(twilio, receiver, sms_saved):
    adapter = TwilioSmsAdapter(sms_saved)
    twilio.twilio_customer_writes(
        ACCOUNT_SID, CUSTOMER, SMS_NUMBER, "", media=[(JPEG, "image/jpeg", "a.jpg")]
    )
    [post] = receiver.wait_for(1)
    [message] = adapter.parse(post["body"], FORM).messages
    [media] = message.media
    fetched = adapter.fetch_media(media)
    assert (fetched.content, fetched.content_type) == (JPEG, "image/jpeg")


def test_mms_media_over_the_size_limit_is_not_downloaded(twilio, receiver, sms_saved, settings):
    settings.INBOUND_MEDIA_MAX_BYTES = 50
    adapter = TwilioSmsAdapter(sms_saved)
    twilio.twilio_customer_writes(
        ACCOUNT_SID, CUSTOMER, SMS_NUMBER, "", media=[(JPEG, "image/jpeg", "a.jpg")]
    )
    [post] = receiver.wait_for(1)
    [media] = adapter.parse(post["body"], FORM).messages[0].media
    with pytest.raises(PermanentSendError) as caught:
        adapter.fetch_media(media)
    assert caught.value.code == "too_large"


def test_missing_media_is_a_permanent_failure(twilio, sms_saved):
    url = f"{twilio.url}/twilio/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME{'0' * 32}"
    with pytest.raises(PermanentSendError):
        TwilioSmsAdapter(sms_saved).fetch_media(InboundMedia(ref=url))


@pytest.fixture
def redirecting_media(sandbox):
    """Twilio's media URL: it checks the credentials, then redirects to file storage."""
    media_id, storage_url = sandbox.host_media(JPEG, "image/jpeg", "a.jpg")
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(307)
            self.send_header("Location", storage_url)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/Media/ME1", seen
    server.shutdown()
    server.server_close()


def test_media_fetch_follows_the_redirect_without_carrying_credentials_along(
    sandbox, redirecting_media, sms_saved
):
    url, seen = redirecting_media
    fetched = TwilioSmsAdapter(sms_saved).fetch_media(InboundMedia(ref=url))
    assert fetched.content == JPEG
    assert fetched.content_type == "image/jpeg"
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert seen == [f"Basic {credentials}"]
    [storage_request] = sandbox.requests("media")
    assert "authorization" not in storage_request["headers"]
