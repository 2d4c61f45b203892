"""`manage.py simulate`, `list_inboxes` and the sandbox's registration of our inboxes."""

import base64
import hashlib
import hmac
import json
from io import StringIO
from urllib.parse import parse_qs

import httpx
import pytest
from django.core.management import call_command

from inbox.models import Inbox, InboxKind
from inbox.sandbox.inboxes import register_active_inboxes

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(settings, receiver, sandbox):
    """The receiver stands in for a running Switchboard; the sandbox is at SANDBOX_URL."""
    settings.PUBLIC_URL = receiver.url
    settings.SANDBOX_URL = sandbox.url
    return receiver


@pytest.fixture
def whatsapp_inbox(db):
    return Inbox.objects.create(
        name="WhatsApp support",
        kind=InboxKind.WHATSAPP,
        provider_config={
            "phone_number_id": "106540352242922",
            "waba_id": "102290129340398",
            "display_phone_number": "15550001111",
        },
        provider_secrets={
            "access_token": "wa-token",
            "app_secret": "wa-secret",
            "verify_token": "wa-verify-me",
        },
    )


@pytest.fixture
def twilio_inbox(db):
    return Inbox.objects.create(
        name="SMS",
        kind=InboxKind.TWILIO_SMS,
        provider_config={"account_sid": "AC" + "c" * 32, "from_number": "+15005550006"},
        provider_secrets={"auth_token": "tw-token"},
    )


@pytest.fixture
def telegram_inbox(db):
    return Inbox.objects.create(
        name="Bot",
        kind=InboxKind.TELEGRAM,
        provider_config={"bot_username": "switchboard_bot", "mode": "webhook"},
        provider_secrets={"bot_token": "4242:bot-token", "secret_token": "tg-secret"},
    )


def test_simulate_posts_a_whatsapp_message_signed_with_the_app_secret(app, whatsapp_inbox):
    call_command("simulate", "whatsapp", "WhatsApp support", "hola", stdout=StringIO())

    [post] = app.posts
    assert post["path"] == f"/webhooks/whatsapp/{whatsapp_inbox.public_token}/"
    expected = "sha256=" + hmac.new(b"wa-secret", post["body"], hashlib.sha256).hexdigest()
    assert post["headers"]["X-Hub-Signature-256"] == expected
    message = json.loads(post["body"])["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["text"] == {"body": "hola"}
    assert message["from"] == "16505551234"


def test_simulate_hosts_an_image_on_the_sandbox_where_the_app_can_fetch_it(
    app, sandbox, whatsapp_inbox, tmp_path
):
    sandbox.add_whatsapp("106540352242922", "102290129340398", "wa-token", "wa-secret", app.url)
    picture = tmp_path / "receipt.png"
    picture.write_bytes(b"\x89PNG receipt")

    call_command(
        "simulate",
        "whatsapp",
        whatsapp_inbox.public_token,
        "see",
        "--image",
        str(picture),
        stdout=StringIO(),
    )

    message = json.loads(app.posts[0]["body"])["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["image"]["mime_type"] == "image/png"
    info = httpx.get(
        f"{sandbox.url}/graph/v21.0/{message['image']['id']}",
        headers={"Authorization": "Bearer wa-token"},
    ).json()
    download = httpx.get(info["url"], headers={"Authorization": "Bearer wa-token"})
    assert download.content == b"\x89PNG receipt"


def test_simulate_signs_an_sms_as_twilio_does_over_the_webhook_url(app, twilio_inbox):
    call_command(
        "simulate", "twilio_sms", "SMS", "STOP", "--from", "+16505550000", stdout=StringIO()
    )

    [post] = app.posts
    url = f"{app.url}/webhooks/twilio_sms/{twilio_inbox.public_token}/"
    fields = parse_qs(post["body"].decode(), keep_blank_values=True)
    signed = url + "".join(f"{k}{v}" for k in sorted(fields) for v in fields[k])
    expected = base64.b64encode(hmac.new(b"tw-token", signed.encode(), hashlib.sha1).digest())
    assert post["headers"]["X-Twilio-Signature"] == expected.decode()
    assert fields["From"] == ["+16505550000"]
    assert fields["To"] == ["+15005550006"]
    assert fields["OptOutType"] == ["STOP"]


def test_simulate_sends_a_telegram_update_with_the_secret_token(app, sandbox, telegram_inbox):
    sandbox.add_telegram("4242:bot-token")
    call_command("simulate", "telegram", "Bot", "hola", "--from", "31337", stdout=StringIO())

    [post] = app.posts
    assert post["headers"]["X-Telegram-Bot-Api-Secret-Token"] == "tg-secret"
    update = json.loads(post["body"])
    assert update["message"]["chat"]["id"] == 31337
    assert update["message"]["text"] == "hola"
    # The sandbox learnt the chat, so the bot's answer goes through.
    answer = httpx.post(
        f"{sandbox.url}/telegram/bot4242:bot-token/sendMessage",
        json={"chat_id": 31337, "text": "hi"},
    )
    assert answer.json()["ok"] is True


def test_list_inboxes_prints_webhook_urls_and_tokens(settings, whatsapp_inbox, telegram_inbox):
    settings.PUBLIC_URL = "https://switchboard.example"
    out = StringIO()
    call_command("list_inboxes", stdout=out)
    text = out.getvalue()
    assert f"https://switchboard.example/webhooks/whatsapp/{whatsapp_inbox.public_token}/" in text
    assert "wa-verify-me" in text
    assert "tg-secret" in text
    assert "WhatsApp support" in text


def test_the_sandbox_registers_active_inboxes_with_their_credentials(
    app, sandbox, whatsapp_inbox, twilio_inbox, telegram_inbox
):
    seen = {}
    registered = register_active_inboxes(sandbox, seen)
    assert sorted(registered) == ["Bot", "SMS", "WhatsApp support"]
    assert register_active_inboxes(sandbox, seen) == []

    sent = httpx.post(
        f"{sandbox.url}/graph/v21.0/106540352242922/messages",
        headers={"Authorization": "Bearer wa-token"},
        json={"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "x"}},
    )
    assert sent.status_code == 200
    [bot] = sandbox.telegram.describe()
    assert bot["webhook_url"] == f"{app.url}/webhooks/telegram/{telegram_inbox.public_token}/"
    response = sandbox.twilio_customer_writes("AC" + "c" * 32, "+16505551234", "+15005550006", "hi")
    assert response.request.url == f"{app.url}/webhooks/twilio_sms/{twilio_inbox.public_token}/"
