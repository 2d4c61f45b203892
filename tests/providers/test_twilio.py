"""The Twilio adapters read deliveries exactly as Twilio posts and signs them."""

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest
from django.test import RequestFactory
from twilio.request_validator import RequestValidator

from inbox.models import Inbox, InboxKind
from inbox.providers import ADAPTERS, adapter_for
from inbox.providers.base import PayloadInvalid, SignatureInvalid
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
