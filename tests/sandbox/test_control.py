"""The sandbox's control API: accounts, faults, held requests, the request log, media."""

import threading

import httpx
import pytest

PHONE_ID = "106540352242922"
WA_TOKEN = "wa-token"
BOT_TOKEN = "42:sandbox-bot-token"
SID = "AC" + "ab" * 16
PAGE_TOKEN = "page-token"


@pytest.fixture
def accounts(sandbox, receiver):
    sandbox.add_whatsapp(PHONE_ID, "5550", WA_TOKEN, "secret", f"{receiver.url}/wa/", receipts=())
    sandbox.add_messenger("1200", PAGE_TOKEN, "secret", f"{receiver.url}/fb/", receipts=())
    sandbox.add_telegram(BOT_TOKEN)
    sandbox.telegram.add_chat(BOT_TOKEN, 7)
    sandbox.add_twilio(SID, "tw-token", numbers=["+15005550006"])


def whatsapp_send(sandbox, **kw):
    return httpx.post(
        f"{sandbox.url}/graph/v21.0/{PHONE_ID}/messages",
        headers={"Authorization": f"Bearer {WA_TOKEN}"},
        json={"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "x"}},
        **kw,
    )


def messenger_send(sandbox):
    return httpx.post(
        f"{sandbox.url}/graph/v21.0/me/messages",
        params={"access_token": PAGE_TOKEN},
        json={
            "recipient": {"id": "24000000000000001"},
            "messaging_type": "RESPONSE",
            "message": {"text": "x"},
        },
    )


def telegram_send(sandbox):
    return httpx.post(
        f"{sandbox.url}/telegram/bot{BOT_TOKEN}/sendMessage", json={"chat_id": 7, "text": "x"}
    )


def twilio_send(sandbox):
    return httpx.post(
        f"{sandbox.url}/twilio/2010-04-01/Accounts/{SID}/Messages.json",
        auth=(SID, "tw-token"),
        data={"To": "+16505551234", "From": "+15005550006", "Body": "x"},
    )


def test_a_429_fault_uses_each_providers_own_rate_limit_shape_then_lets_sends_through(
    sandbox, accounts
):
    for provider in ("whatsapp", "messenger", "telegram", "twilio"):
        sandbox.queue_fault(provider, "429", retry_after=3)

    whatsapp, messenger = whatsapp_send(sandbox), messenger_send(sandbox)
    telegram, twilio = telegram_send(sandbox), twilio_send(sandbox)

    assert whatsapp.status_code == 429
    assert whatsapp.json()["error"]["code"] == 130429
    assert messenger.json()["error"]["code"] == 613
    assert telegram.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert twilio.json()["code"] == 20429
    assert twilio.headers["retry-after"] == "3"
    assert whatsapp_send(sandbox).status_code == 200
    assert messenger_send(sandbox).status_code == 200
    assert telegram_send(sandbox).status_code == 200
    assert twilio_send(sandbox).status_code == 201


def test_server_errors_count_down_and_match_a_path(sandbox, accounts):
    sandbox.queue_fault("*", "503", path=r"/messages$", count=2)
    assert whatsapp_send(sandbox).status_code == 503
    assert messenger_send(sandbox).status_code == 503
    assert telegram_send(sandbox).status_code == 200  # the path does not match
    assert whatsapp_send(sandbox).status_code == 200
    sandbox.queue_fault("twilio", "500")
    failed = twilio_send(sandbox)
    assert failed.status_code == 500
    assert failed.json()["code"] == 20500


def test_an_error_fault_answers_the_given_provider_error(sandbox, accounts):
    sandbox.queue_fault("whatsapp", "error", error=131026, message="Message undeliverable")
    sandbox.queue_fault("telegram", "error", error=403)
    response = whatsapp_send(sandbox)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 131026
    assert telegram_send(sandbox).json()["description"] == (
        "Forbidden: bot was blocked by the user"
    )
    sandbox.queue_fault("twilio", "error", error={"code": 63016, "status": 400}, status=400)
    assert twilio_send(sandbox).json() == {"code": 63016, "status": 400}


def test_a_held_request_answers_only_when_released(sandbox, accounts):
    sandbox.queue_fault("whatsapp", "hold")
    answers = []
    thread = threading.Thread(target=lambda: answers.append(whatsapp_send(sandbox)))
    thread.start()

    [held] = sandbox.wait_for_held(1)
    assert held["path"] == f"/graph/v21.0/{PHONE_ID}/messages"
    assert answers == []
    listed = httpx.get(f"{sandbox.url}/_control/held").json()
    assert [h["id"] for h in listed] == [held["id"]]

    released = httpx.post(f"{sandbox.url}/_control/release", json={"id": held["id"]})
    assert released.json() == {"released": 1}
    thread.join(5)
    assert answers[0].status_code == 200
    assert sandbox.held() == []


def test_a_timeout_fault_answers_after_the_client_gave_up(sandbox, accounts):
    sandbox.queue_fault("whatsapp", "timeout", seconds=1)
    with pytest.raises(httpx.ReadTimeout):
        whatsapp_send(sandbox, timeout=0.3)
    # The request was still handled: the provider took the message.
    sandbox.wait_until_idle()
    assert whatsapp_send(sandbox).status_code == 200


def test_a_dropped_connection_gives_no_answer(sandbox, accounts):
    sandbox.queue_fault("telegram", "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        telegram_send(sandbox)
    assert sandbox.requests("telegram")[-1]["status"] == "dropped"
    assert telegram_send(sandbox).status_code == 200


def test_the_request_log_keeps_parsed_fields_and_the_answer(sandbox, accounts):
    whatsapp_send(sandbox)
    twilio_send(sandbox)
    httpx.post(
        f"{sandbox.url}/graph/v21.0/{PHONE_ID}/media",
        headers={"Authorization": f"Bearer {WA_TOKEN}"},
        data={"messaging_product": "whatsapp", "type": "image/png"},
        files={"file": ("a.png", b"png", "image/png")},
    )

    [send, upload] = sandbox.requests("whatsapp")
    assert send["method"] == "POST"
    assert send["json"]["text"] == {"body": "x"}
    assert send["headers"]["authorization"] == f"Bearer {WA_TOKEN}"
    assert send["status"] == 200
    assert upload["form"] == {"messaging_product": "whatsapp", "type": "image/png"}
    assert upload["files"]["file"] == {"filename": "a.png", "content_type": "image/png", "size": 3}
    [twilio] = httpx.get(f"{sandbox.url}/_control/requests", params={"provider": "twilio"}).json()
    assert twilio["form"]["Body"] == "x"
    assert twilio["status"] == 201


def test_accounts_and_faults_can_be_set_over_http_and_reset(sandbox, receiver):
    control = f"{sandbox.url}/_control"
    created = httpx.post(
        f"{control}/accounts",
        json={
            "provider": "whatsapp",
            "phone_number_id": "777",
            "waba_id": "888",
            "access_token": "http-token",
            "app_secret": "s",
            "webhook_url": f"{receiver.url}/wa/",
            "receipts": [],
        },
    )
    assert created.status_code == 201
    fault = httpx.post(f"{control}/faults", json={"provider": "whatsapp", "fault": "500"})
    assert fault.json()["id"]
    send = {"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "x"}}
    url = f"{sandbox.url}/graph/v21.0/777/messages"
    auth = {"Authorization": "Bearer http-token"}
    assert httpx.post(url, headers=auth, json=send).status_code == 500
    httpx.post(f"{control}/faults", json={"provider": "whatsapp", "fault": "500"})
    assert httpx.post(f"{control}/reset").json() == {"ok": True}
    assert sandbox.requests() == []
    assert httpx.post(url, headers=auth, json=send).status_code == 200
    bad = httpx.post(f"{control}/faults", json={"provider": "whatsapp", "fault": "melt"})
    assert bad.status_code == 400


def test_media_hosted_over_the_control_api_is_served_publicly(sandbox):
    response = httpx.post(
        f"{sandbox.url}/_control/media",
        params={"filename": "cat.jpg"},
        content=b"\xff\xd8jpeg",
        headers={"Content-Type": "image/jpeg"},
    )
    assert response.status_code == 201
    hosted = response.json()
    assert hosted["file_id"]
    fetched = httpx.get(hosted["url"])
    assert fetched.content == b"\xff\xd8jpeg"
    assert fetched.headers["content-type"] == "image/jpeg"
    assert httpx.get(f"{sandbox.url}/_media/0000/cat.jpg").status_code == 404


def test_a_media_fault_makes_a_hosted_file_fail_to_download(sandbox):
    _, url = sandbox.host_media(b"x", "image/png", "x.png")
    sandbox.queue_fault("media", "500")
    assert httpx.get(url).status_code == 500
    assert httpx.get(url).status_code == 200
