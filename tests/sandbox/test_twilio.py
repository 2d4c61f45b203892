"""The sandbox speaks Twilio's Messages API as PROVIDERS.md describes it."""

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qs

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

SID = "AC" + "1f" * 16
TOKEN = "twilio-auth-token"
SMS_NUMBER = "+15005550006"
WA_NUMBER = "whatsapp:+14155238886"


def our_signature(token, url, params):
    data = url + "".join(f"{k}{v}" for k in sorted(params) for v in params[k])
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def form_of(post):
    return parse_qs(post["body"].decode(), keep_blank_values=True)


def signature_is_valid(post, url):
    return hmac.compare_digest(
        post["headers"]["X-Twilio-Signature"], our_signature(TOKEN, url, form_of(post))
    )


@pytest.fixture
def account(sandbox, receiver):
    return sandbox.add_twilio(
        SID,
        TOKEN,
        numbers={SMS_NUMBER: f"{receiver.url}/sms/", WA_NUMBER: f"{receiver.url}/wa/"},
    )


@pytest.fixture
def client(sandbox, account):
    twilio = Client(SID, TOKEN)
    twilio.api.base_url = f"{sandbox.url}/twilio"
    return twilio


@pytest.fixture
def messages_url(sandbox):
    return f"{sandbox.url}/twilio/2010-04-01/Accounts/{SID}/Messages.json"


def create(messages_url, auth=(SID, TOKEN), **fields):
    return httpx.post(messages_url, auth=auth, data=fields)


def test_the_official_sdk_sends_a_message_and_status_callbacks_come_back_signed(client, receiver):
    callback = f"{receiver.url}/status/?inbox=7"
    message = client.messages.create(
        to="+16505551234", from_=SMS_NUMBER, body="Hello from Switchboard", status_callback=callback
    )

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.status == "queued"
    assert message.to == "+16505551234"
    assert message.direction == "outbound-api"
    posts = receiver.wait_for(3)
    statuses = []
    for post in posts:
        assert signature_is_valid(post, callback)
        fields = form_of(post)
        assert fields["MessageSid"] == [message.sid]
        statuses.append(fields["MessageStatus"][0])
    assert statuses == ["queued", "sent", "delivered"]


def test_bad_credentials_are_refused_with_20003(messages_url, sandbox, account):
    response = create(
        messages_url, auth=(SID, "wrong"), To="+16505551234", From=SMS_NUMBER, Body="x"
    )
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    bad = Client(SID, "wrong")
    bad.api.base_url = f"{sandbox.url}/twilio"
    with pytest.raises(TwilioRestException) as raised:
        bad.messages.create(to="+16505551234", from_=SMS_NUMBER, body="x")
    assert raised.value.code == 20003


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"From": SMS_NUMBER, "Body": "x"}, 21604),
        ({"To": "+16505551234", "Body": "x"}, 21603),
        ({"To": "+16505551234", "From": SMS_NUMBER}, 21602),
        ({"To": "650-555", "From": SMS_NUMBER, "Body": "x"}, 21211),
        ({"To": "+16505551234", "From": "+15550009999", "Body": "x"}, 21606),
        ({"To": "+16505551234", "From": WA_NUMBER, "Body": "x"}, 21910),
        ({"To": "+16505551234", "From": SMS_NUMBER, "Body": "x" * 1601}, 21617),
    ],
)
def test_form_fields_are_checked_with_twilio_error_codes(messages_url, account, fields, code):
    response = create(messages_url, **fields)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body["status"] == 400
    assert body["more_info"].endswith(str(code))


def test_a_messaging_service_picks_the_sender_and_answers_accepted(messages_url, account):
    response = create(
        messages_url, To="+16505551234", MessagingServiceSid="MG" + "a" * 32, Body="hi"
    )
    assert response.status_code == 201
    assert response.json()["status"] == "accepted"


def test_media_urls_are_fetched_and_must_answer_200(messages_url, sandbox, account):
    _, good = sandbox.host_media(b"png", "image/png", "a.png")
    ok = create(messages_url, To="+16505551234", From=SMS_NUMBER, MediaUrl=good)
    assert ok.status_code == 201
    assert ok.json()["num_media"] == "1"
    assert ok.json()["sid"].startswith("MM")
    bad = create(messages_url, To="+16505551234", From=SMS_NUMBER, MediaUrl=good + "x/404")
    assert bad.json()["code"] in (21620,)
    missing = create(
        messages_url, To="+16505551234", From=SMS_NUMBER, MediaUrl=f"{sandbox.url}/_media/nope/a"
    )
    assert missing.status_code == 400
    assert missing.json()["code"] == 21620


def test_stop_from_a_customer_makes_later_sends_fail_with_21610_until_start(
    sandbox, receiver, messages_url, account
):
    response = sandbox.twilio_customer_writes(SID, "+16505551234", SMS_NUMBER, "Stop")
    assert response.status_code == 200
    [post] = receiver.posts
    assert signature_is_valid(post, f"{receiver.url}/sms/")
    assert form_of(post)["OptOutType"] == ["STOP"]

    refused = create(messages_url, To="+16505551234", From=SMS_NUMBER, Body="still there?")
    assert refused.status_code == 400
    assert refused.json()["code"] == 21610

    sandbox.twilio_customer_writes(SID, "+16505551234", SMS_NUMBER, "START")
    assert form_of(receiver.posts[1])["OptOutType"] == ["START"]
    assert create(messages_url, To="+16505551234", From=SMS_NUMBER, Body="hi").status_code == 201


def test_a_customer_mms_is_posted_with_downloadable_media_urls(sandbox, receiver, account):
    sandbox.twilio_customer_writes(
        SID, "+16505551234", SMS_NUMBER, "look", media=(b"GIF89a", "image/gif", "a.gif")
    )
    [post] = receiver.posts
    fields = form_of(post)
    assert signature_is_valid(post, f"{receiver.url}/sms/")
    assert fields["NumMedia"] == ["1"]
    assert fields["MediaContentType0"] == ["image/gif"]
    assert fields["SmsStatus"] == ["received"]
    assert fields["AccountSid"] == [SID]
    assert httpx.get(fields["MediaUrl0"][0]).content == b"GIF89a"


def test_a_whatsapp_customer_message_carries_profile_name_and_wa_id(sandbox, receiver, account):
    sandbox.twilio_customer_writes(
        SID, "whatsapp:+16505551234", WA_NUMBER, "hola", profile_name="Ana"
    )
    [post] = receiver.posts
    assert post["path"] == "/wa/"
    fields = form_of(post)
    assert fields["ProfileName"] == ["Ana"]
    assert fields["WaId"] == ["16505551234"]
    assert fields["From"] == ["whatsapp:+16505551234"]


def test_whatsapp_free_form_outside_the_window_fails_later_with_63016(sandbox, receiver, client):
    sandbox.twilio_customer_writes(SID, "whatsapp:+16505551234", WA_NUMBER, "hola")
    sandbox.advance_clock(25 * 3600)
    callback = f"{receiver.url}/status/"
    client.messages.create(
        to="whatsapp:+16505551234", from_=WA_NUMBER, body="late", status_callback=callback
    )
    posts = receiver.wait_for(3)
    last = form_of(posts[-1])
    assert last["MessageStatus"] == ["failed"]
    assert last["ErrorCode"] == ["63016"]


def test_a_rate_limit_fault_answers_20429_then_the_send_goes_through(sandbox, client):
    sandbox.queue_fault("twilio", "429", retry_after=2)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to="+16505551234", from_=SMS_NUMBER, body="x")
    assert raised.value.status == 429
    assert raised.value.code == 20429
    assert client.messages.create(to="+16505551234", from_=SMS_NUMBER, body="x").sid
