"""The sandbox speaks the Messenger (and Instagram) Send API and posts their webhooks."""

import hashlib
import hmac
import json

import httpx
import pytest

PAGE_ID = "1200000000001"
IG_ID = "17841400000000001"
PAGE_TOKEN = "EAAB-page-token"
SECRET = "fb-app-secret"
PSID = "24000000000000001"


def signatures_are_valid(post):
    body = post["headers"], post["body"]
    headers, raw = body
    sha256 = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    sha1 = "sha1=" + hmac.new(SECRET.encode(), raw, hashlib.sha1).hexdigest()
    return hmac.compare_digest(headers["X-Hub-Signature-256"], sha256) and hmac.compare_digest(
        headers["X-Hub-Signature"], sha1
    )


@pytest.fixture
def page(sandbox, receiver):
    return sandbox.add_messenger(PAGE_ID, PAGE_TOKEN, SECRET, f"{receiver.url}/fb/")


@pytest.fixture
def send(sandbox, page):
    def post(body, token=PAGE_TOKEN):
        return httpx.post(
            f"{sandbox.url}/graph/v21.0/me/messages", params={"access_token": token}, json=body
        )

    return post


def text(psid=PSID, body="hi", **extra):
    return {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": body}} | (
        extra
    )


def events(posts):
    return [json.loads(p["body"])["entry"][0]["messaging"][0] for p in posts]


def test_a_text_send_answers_recipient_and_mid_then_echo_delivery_and_read(send, receiver):
    response = send(text())

    assert response.status_code == 200
    mid = response.json()["message_id"]
    assert response.json() == {"recipient_id": PSID, "message_id": mid}
    assert mid.startswith("m_")
    posts = receiver.wait_for(3)
    assert all(signatures_are_valid(p) for p in posts)
    assert all(json.loads(p["body"])["object"] == "page" for p in posts)
    echo, delivery, read = events(posts)
    assert echo["message"]["is_echo"] is True
    assert echo["message"]["mid"] == mid
    assert echo["message"]["text"] == "hi"
    assert echo["sender"]["id"] == PAGE_ID
    assert delivery["delivery"]["mids"] == [mid]
    assert read["read"]["watermark"] >= delivery["delivery"]["watermark"]


def test_a_bad_token_is_190_and_an_unknown_user_is_2018001(send, sandbox, receiver):
    bad = send(text(), token="nope")
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == 190
    unknown = send(text(psid="not-a-user"))
    assert unknown.json()["error"]["code"] == 100
    assert unknown.json()["error"]["error_subcode"] == 2018001
    sandbox.add_messenger(PAGE_ID, PAGE_TOKEN, SECRET, receiver.url, known_users=["111111"])
    assert send(text(psid="222222")).json()["error"]["error_subcode"] == 2018001
    assert send(text(psid="111111")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"recipient": {"id": PSID}, "message": {"text": "x"}},
        {"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "message": {"text": "x"}},
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {}},
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "x" * 2001}},
        {"messaging_type": "RESPONSE", "message": {"text": "x"}},
        {
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "sticker", "payload": {"url": "http://x"}}},
        },
    ],
)
def test_malformed_sends_are_graph_error_100(send, body):
    response = send(body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


def test_an_attachment_url_is_fetched_and_must_answer_200(send, sandbox, receiver):
    _, url = sandbox.host_media(b"png", "image/png", "a.png")

    def attachment(link):
        return {
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "image", "payload": {"url": link}}},
        }

    assert send(attachment(url)).status_code == 200
    refused = send(attachment(f"{sandbox.url}/_media/404/a.png"))
    assert refused.status_code == 400
    assert refused.json()["error"]["error_subcode"] == 2018047
    echo = events(receiver.wait_for(1))[0]
    assert echo["message"]["attachments"] == [{"type": "image", "payload": {"url": url}}]


def test_the_window_closes_after_24_hours_except_for_a_human_agent_for_7_days(send, sandbox):
    sandbox.messenger_customer_writes(PAGE_ID, PSID, "hello")
    sandbox.advance_clock(25 * 3600)
    late = send(text())
    assert late.json()["error"]["code"] == 10
    assert late.json()["error"]["error_subcode"] == 2018278
    tagged = text(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    assert send(tagged).status_code == 200
    sandbox.advance_clock(7 * 24 * 3600)
    assert send(tagged).json()["error"]["code"] == 10


def test_a_customer_message_is_posted_signed_with_both_signatures(sandbox, receiver, page):
    response = sandbox.messenger_customer_writes(PAGE_ID, PSID, "hola", image=b"JPEG")
    assert response.status_code == 200
    [post] = receiver.posts
    assert signatures_are_valid(post)
    payload = json.loads(post["body"])
    assert payload["entry"][0]["id"] == PAGE_ID
    event = payload["entry"][0]["messaging"][0]
    assert event["sender"] == {"id": PSID}
    assert event["recipient"] == {"id": PAGE_ID}
    assert event["message"]["text"] == "hola"
    [attachment] = event["message"]["attachments"]
    assert httpx.get(attachment["payload"]["url"]).content == b"JPEG"


def test_instagram_echoes_then_reads_by_mid(sandbox, receiver, send):
    sandbox.add_messenger(
        PAGE_ID,
        PAGE_TOKEN,
        SECRET,
        f"{receiver.url}/ig/",
        object="instagram",
        instagram_account_id=IG_ID,
    )
    sandbox.instagram_customer_writes(PAGE_ID, "5300000000000001", "hi from ig")
    [inbound] = receiver.wait_for(1)
    assert json.loads(inbound["body"])["object"] == "instagram"
    assert json.loads(inbound["body"])["entry"][0]["id"] == IG_ID

    response = send(text(psid="5300000000000001"))
    mid = response.json()["message_id"]
    posts = receiver.wait_for(3)[1:]
    assert [p["path"] for p in posts] == ["/ig/", "/ig/"]
    echo, read = events(posts)
    assert echo["message"]["is_echo"] is True
    assert read["read"] == {"mid": mid}
    only_human_agent = text(
        psid="5300000000000001", messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE"
    )
    assert send(only_human_agent).json()["error"]["code"] == 100
