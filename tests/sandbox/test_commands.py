"""`manage.py simulate`, `list_inboxes` and the sandbox's registration of our inboxes."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from io import StringIO
from urllib.parse import parse_qs

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from conversations.models import Message
from inbox.celery import app as celery_app
from inbox.models import InboundEvent, InboundEventStatus, Inbox, InboxKind
from inbox.sandbox.inboxes import register_active_inboxes
from tests.conftest import database_url_for_tests

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


@pytest.fixture
def email_inbox(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return Inbox.objects.create(
        name="E-mail",
        kind=InboxKind.EMAIL,
        provider_config={"address": "support@switchboard.localhost"},
    )


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_simulate_email_delivers_an_rfc822_message_the_way_fetched_mail_arrives(
    email_inbox, tmp_path, django_capture_on_commit_callbacks
):
    picture = tmp_path / "torn-bag.png"
    picture.write_bytes(PNG)
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "simulate",
            "email",
            "E-mail",
            "One bag arrived torn",
            "--from",
            "emma.clarke@example.net",
            "--name",
            "Emma Clarke",
            "--image",
            str(picture),
            stdout=out,
        )

    [event] = InboundEvent.objects.filter(inbox=email_inbox)
    assert event.content_type == "message/rfc822"
    assert event.status == InboundEventStatus.PROCESSED
    raw = BytesParser(policy=policy.default).parsebytes(bytes(event.body))
    assert raw["From"] == "Emma Clarke <emma.clarke@example.net>"
    assert raw["To"] == "support@switchboard.localhost"
    [message] = Message.objects.filter(inbox=email_inbox)
    assert message.body.strip() == "One bag arrived torn"
    assert message.conversation.contact_identity.external_id == "emma.clarke@example.net"
    assert message.content_attributes["subject"] == "One bag arrived torn"
    [attachment] = message.attachments.all()
    assert attachment.original_name == "torn-bag.png"
    assert attachment.file.read() == PNG
    assert "Delivered" in out.getvalue()


def test_simulate_email_applies_the_delivery_itself_when_tasks_run_in_process(email_inbox):
    # Inside a transaction nothing runs on commit: the command must not rely on it.
    call_command("simulate", "email", "E-mail", "Is the Guji in stock?", stdout=StringIO())

    [event] = InboundEvent.objects.filter(inbox=email_inbox)
    assert event.status == InboundEventStatus.PROCESSED
    assert Message.objects.get(inbox=email_inbox).body.strip() == "Is the Guji in stock?"


def test_simulate_email_leaves_the_delivery_to_the_worker_when_there_is_one(email_inbox):
    celery_app.conf.task_always_eager = False
    out = StringIO()

    call_command("simulate", "email", "E-mail", "Hola", stdout=out)

    [event] = InboundEvent.objects.filter(inbox=email_inbox)
    assert event.status == InboundEventStatus.PENDING
    assert not Message.objects.filter(inbox=email_inbox).exists()
    assert "the worker applies it" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_simulate_email_run_as_its_own_process_writes_into_the_apps_database(email_inbox, tmp_path):
    """As a user runs it next to `make run` (embedded: no Redis, tasks in-process)."""
    env = {
        **os.environ,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = connection.settings_dict["NAME"]
        env.pop("DATABASE_URL", None)
    else:
        env["DATABASE_URL"] = database_url_for_tests()

    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "simulate", "email", "E-mail", "Where is my order?"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    [message] = Message.objects.filter(inbox=email_inbox)
    assert message.body.strip() == "Where is my order?"
    assert message.conversation.last_message_id == message.pk
