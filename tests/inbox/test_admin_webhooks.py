"""The inbox admin's "Register the webhook with the provider": Telegram is told over its
API (here the sandbox's Bot API); for Meta and Twilio the admin gets what to paste."""

import pytest
from django.contrib.messages import constants, get_messages
from django.urls import reverse

from inbox.models import Inbox, InboxKind, Role
from inbox.sandbox import Sandbox

BOT_TOKEN = "4242:admin-bot-token"


@pytest.fixture
def sandbox(settings):
    with Sandbox() as sb:
        settings.TELEGRAM_API_URL = f"{sb.url}/telegram"
        yield sb


@pytest.fixture
def admin_client(client, make_user, settings):
    settings.PUBLIC_URL = "https://switchboard.example"
    client.force_login(make_user(Role.ADMIN))
    return client


def telegram_inbox(mode="webhook", secret_token="tg-secret"):  # noqa: S107 - test value
    secrets = {"bot_token": BOT_TOKEN}
    if secret_token:
        secrets["secret_token"] = secret_token
    return Inbox.objects.create(
        name="Bot",
        kind=InboxKind.TELEGRAM,
        provider_config={"bot_username": "switchboard_bot", "mode": mode},
        provider_secrets=secrets,
    )


def run_action(client, *inboxes):
    response = client.post(
        reverse("admin:inbox_inbox_changelist"),
        {"action": "register_webhook", "_selected_action": [inbox.pk for inbox in inboxes]},
        follow=True,
    )
    assert response.status_code == 200
    return [(m.level, m.message) for m in get_messages(response.wsgi_request)]


def test_registering_a_telegram_inbox_sets_its_webhook_and_secret_on_the_bot_api(
    admin_client, sandbox
):
    sandbox.add_telegram(BOT_TOKEN)
    inbox = telegram_inbox()

    [(level, text)] = run_action(admin_client, inbox)

    [bot] = sandbox.telegram.describe()
    url = f"https://switchboard.example/webhooks/telegram/{inbox.public_token}/"
    assert bot["webhook_url"] == url
    [call] = sandbox.requests("telegram")
    assert call["path"] == f"/telegram/bot{BOT_TOKEN}/setWebhook"
    assert call["json"]["secret_token"] == "tg-secret"
    assert level == constants.SUCCESS
    assert url in text


def test_a_webhook_telegram_refuses_is_reported_as_an_error(admin_client, sandbox):
    inbox = telegram_inbox()  # the sandbox knows no bot with this token

    [(level, text)] = run_action(admin_client, inbox)

    assert level == constants.ERROR
    assert "Bot" in text
    assert "Unauthorized" in text


def test_a_polling_bot_or_one_without_secret_token_is_not_registered(admin_client, sandbox):
    sandbox.add_telegram(BOT_TOKEN)
    polling = telegram_inbox(mode="polling")

    [(level, text)] = run_action(admin_client, polling)
    assert level == constants.WARNING
    assert "polling" in text

    polling.provider_config = {"mode": "webhook"}
    polling.provider_secrets = {"bot_token": BOT_TOKEN}
    polling.save()
    [(level, text)] = run_action(admin_client, polling)
    assert level == constants.ERROR
    assert "secret token" in text
    assert sandbox.requests("telegram") == []


def test_meta_and_twilio_inboxes_get_the_url_and_verify_token_to_paste(admin_client, db):
    whatsapp = Inbox.objects.create(
        name="WhatsApp",
        kind=InboxKind.WHATSAPP,
        provider_config={"phone_number_id": "1", "waba_id": "2"},
        provider_secrets={"access_token": "t", "app_secret": "s", "verify_token": "paste-me"},
    )
    sms = Inbox.objects.create(
        name="SMS",
        kind=InboxKind.TWILIO_SMS,
        provider_config={"account_sid": "AC" + "1" * 32, "from_number": "+15005550006"},
        provider_secrets={"auth_token": "tw"},
    )

    found = dict(
        (text.split(":")[0], (level, text))
        for level, text in run_action(admin_client, whatsapp, sms)
    )

    level, text = found["WhatsApp"]
    assert level == constants.INFO
    assert f"https://switchboard.example/webhooks/whatsapp/{whatsapp.public_token}/" in text
    assert "paste-me" in text
    level, text = found["SMS"]
    assert level == constants.INFO
    assert f"https://switchboard.example/webhooks/twilio_sms/{sms.public_token}/" in text
    assert "+15005550006" in text


def test_agents_cannot_run_the_action(client, make_user, db):
    inbox = telegram_inbox()
    client.force_login(make_user(Role.AGENT, inboxes=[inbox]))
    response = client.post(
        reverse("admin:inbox_inbox_changelist"),
        {"action": "register_webhook", "_selected_action": [inbox.pk]},
    )
    assert response.status_code == 302
    assert "login" in response["Location"]
