"""The periodic and follow-up work around providers: polling, template sync, read marks,
send pacing, and the sweeper that picks up deliveries nobody applied."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from conversations.models import Message
from conversations.services import mark_conversation_read
from inbox import polling, rate_limits, sweepers
from inbox.models import InboundEvent, InboundEventStatus, Inbox, InboxKind, MessageTemplate
from inbox.providers.telegram import TelegramAdapter
from inbox.providers.whatsapp import WhatsAppAdapter
from inbox.templates import approved_templates, sync_templates

pytestmark = pytest.mark.django_db

BOT = "123456:ABC-polling-bot"


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()


@pytest.fixture
def whatsapp(sandbox, settings):
    settings.WHATSAPP_GRAPH_URL = f"{sandbox.url}/graph"
    inbox = Inbox.objects.create(
        kind=InboxKind.WHATSAPP,
        name="WhatsApp",
        provider_config={"phone_number_id": "1001", "waba_id": "2002"},
        provider_secrets={"access_token": "tok", "app_secret": "sec", "verify_token": "v"},
    )
    return inbox


def test_templates_are_synced_from_the_provider_and_only_approved_ones_offered(whatsapp, sandbox):
    sandbox.add_whatsapp(
        "1001",
        "2002",
        "tok",
        "sec",
        "http://127.0.0.1:9/unused/",
        templates=[
            {
                "name": "order_update",
                "language": "es",
                "status": "APPROVED",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} salió."}],
            },
            {
                "name": "promo",
                "language": "es",
                "status": "REJECTED",
                "category": "MARKETING",
                "components": [{"type": "BODY", "text": "Oferta"}],
            },
        ],
    )

    assert sync_templates(whatsapp) == 2

    template = MessageTemplate.objects.get(name="order_update")
    assert (template.parameter_count, template.body_text) == (
        2,
        "Hola {{1}}, tu pedido {{2}} salió.",
    )
    assert [t.name for t in approved_templates(whatsapp)] == ["order_update"]


def test_a_template_removed_at_the_provider_is_removed_here(whatsapp, sandbox):
    MessageTemplate.objects.create(inbox=whatsapp, name="old", language="en", status="APPROVED")
    sandbox.add_whatsapp("1001", "2002", "tok", "sec", "http://127.0.0.1:9/", templates=[])

    sync_templates(whatsapp)

    assert not MessageTemplate.objects.filter(name="old").exists()


def test_opening_a_whatsapp_thread_shows_the_customer_blue_ticks_once(
    whatsapp, sandbox, conversation_with, agent, django_capture_on_commit_callbacks
):
    sandbox.add_whatsapp("1001", "2002", "tok", "sec", "http://127.0.0.1:9/")
    whatsapp.members.add(agent)
    conversation = conversation_with(whatsapp, "34600111222", message_id="wamid.IN-1")

    with django_capture_on_commit_callbacks(execute=True):
        mark_conversation_read(agent, conversation)
    with django_capture_on_commit_callbacks(execute=True):
        mark_conversation_read(agent, conversation)

    reads = [
        r["json"]
        for r in sandbox.requests("whatsapp")
        if r["path"].endswith("/messages") and (r["json"] or {}).get("status") == "read"
    ]
    assert reads == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN-1"}
    ]


def test_a_telegram_bot_without_a_webhook_polls_for_updates(
    sandbox, settings, django_capture_on_commit_callbacks
):
    settings.TELEGRAM_API_URL = f"{sandbox.url}/telegram"
    sandbox.add_telegram(BOT)
    inbox = Inbox.objects.create(
        kind=InboxKind.TELEGRAM,
        name="Bot",
        provider_config={"mode": "polling"},
        provider_secrets={"bot_token": BOT, "secret_token": "s"},
    )
    sandbox.telegram_customer_writes(BOT, 4242, "Hola por sondeo")
    sandbox.telegram_customer_writes(BOT, 4242, "Otra vez")

    with django_capture_on_commit_callbacks(execute=True):
        assert polling.poll_all_telegram_bots() == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert polling.poll_all_telegram_bots() == 0  # the offset moved past them

    assert sorted(Message.objects.filter(inbox=inbox).values_list("body", flat=True)) == [
        "Hola por sondeo",
        "Otra vez",
    ]


def test_the_sweeper_applies_deliveries_left_pending(whatsapp, sandbox):
    from inbox.sandbox.payloads import whatsapp_message

    body, _headers = whatsapp_message("sec", "1001", "34600999888", text="Redis was down")
    event = InboundEvent.objects.create(
        inbox=whatsapp,
        delivery_key="k1",
        body=body,
        content_type="application/json",
        received_at=timezone.now() - timedelta(minutes=5),
    )

    assert sweepers.requeue_stale_inbound_events() == 1

    event.refresh_from_db()
    assert event.status == InboundEventStatus.PROCESSED
    assert Message.objects.get(inbox=whatsapp).body == "Redis was down"


def test_a_fresh_pending_delivery_is_left_to_its_own_task(whatsapp):
    InboundEvent.objects.create(inbox=whatsapp, delivery_key="k2", body=b"{}")

    assert sweepers.requeue_stale_inbound_events() == 0


def test_telegram_sends_to_one_chat_at_most_once_a_second(conversation_with):
    inbox = Inbox.objects.create(kind=InboxKind.TELEGRAM, name="Bot", provider_config={})
    conversation = conversation_with(inbox, "77")
    message = conversation.messages.get()
    adapter = TelegramAdapter(inbox)

    assert rate_limits.wait_before_send(adapter, message, now=1000.0) == 0
    assert rate_limits.wait_before_send(adapter, message, now=1000.4) == pytest.approx(0.6)
    assert rate_limits.wait_before_send(adapter, message, now=1001.1) == 0


def test_a_channel_stays_under_its_overall_rate(conversation_with):
    inbox = Inbox.objects.create(kind=InboxKind.WHATSAPP, name="WA", provider_config={})
    adapter = WhatsAppAdapter(inbox)
    adapter.max_per_second = 3
    messages = [conversation_with(inbox, f"3460000000{n}").messages.get() for n in range(4)]

    waits = [rate_limits.wait_before_send(adapter, m, now=5000.25) for m in messages]

    assert waits[:3] == [0, 0, 0]
    assert waits[3] == pytest.approx(0.75)
