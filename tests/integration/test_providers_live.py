"""Every messaging provider end to end, on the real processes.

The provider sandbox speaks each provider's wire protocol over real HTTP; daphne takes
its signed webhooks, the Celery worker (on Redis) applies them and sends replies back to
it, PostgreSQL holds everything. Nothing here is mocked.
"""

import contextlib
import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from channels_app.models import LiveEvent
from contacts.models import Consent, ConsentState
from conversations.models import Conversation, DeliveryStatus, Direction, Message
from inbox.demo import load_demo_data
from inbox.models import InboundEvent, InboundEventStatus, Inbox, InboxKind
from inbox.sandbox.inboxes import register_active_inboxes
from tests.integration.test_live_app import signed_in_client, wait_for

pytestmark = pytest.mark.integration

# The provider took the message (receipts may already have moved it on).
TAKEN = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Channel:
    """How a customer writes on one provider, and where our reply lands in the sandbox."""

    def __init__(self, kind, provider, customer, send_path, text_of):
        self.kind = kind
        self.provider = provider
        self.customer = customer
        self.send_path = send_path
        self.text_of = text_of

    def inbox(self):
        return Inbox.objects.get(kind=self.kind)

    def writes(self, sandbox, text, *, image=None):
        inbox = self.inbox()
        config = inbox.provider_config
        if self.kind == InboxKind.WHATSAPP:
            return sandbox.whatsapp_customer_writes(
                config["phone_number_id"], self.customer, text, image=image, name="Lucía"
            )
        if self.kind == InboxKind.MESSENGER:
            return sandbox.messenger_customer_writes(config["page_id"], self.customer, text, image)
        if self.kind == InboxKind.INSTAGRAM:
            return sandbox.instagram_customer_writes(config["page_id"], self.customer, text, image)
        if self.kind == InboxKind.TELEGRAM:
            token = inbox.provider_secrets["bot_token"]
            return sandbox.telegram_customer_writes(token, int(self.customer), text, photo=image)
        media = [(image, "image/png", "photo.png")] if image else None
        return sandbox.twilio_customer_writes(
            config["account_sid"], self.customer, config["from_number"], text, media=media
        )

    def sends(self, sandbox):
        """Our sends to the customer (WhatsApp read marks share the endpoint: not those)."""
        return [
            r
            for r in sandbox.requests(self.provider)
            if r["method"] == "POST"
            and r["path"].endswith(self.send_path)
            and (r["json"] or {}).get("status") != "read"
        ]

    def sent_texts(self, sandbox):
        return [self.text_of(r) for r in self.sends(sandbox) if r["status"] in (200, 201)]


def _json_text(request):
    body = request["json"] or {}
    return (body.get("text") or {}).get("body") or (body.get("message") or {}).get("text")


CHANNELS = {
    "whatsapp": Channel("whatsapp", "whatsapp", "+34600111222", "/messages", _json_text),
    "messenger": Channel("messenger", "messenger", "24930017001", "/me/messages", _json_text),
    "instagram": Channel("instagram", "messenger", "17841408001", "/me/messages", _json_text),
    "telegram": Channel(
        "telegram",
        "telegram",
        "55501",
        "/sendMessage",
        lambda r: (r["json"] or r["form"]).get("text"),
    ),
    "twilio_sms": Channel(
        "twilio_sms", "twilio", "+34600333444", "/Messages.json", lambda r: r["form"].get("Body")
    ),
    "twilio_whatsapp": Channel(
        "twilio_whatsapp",
        "twilio",
        "whatsapp:+34600555666",
        "/Messages.json",
        lambda r: r["form"].get("Body"),
    ),
}


@pytest.fixture
def providers(live_app, provider_sandbox, transactional_db, settings):
    """The demo workspace, its provider inboxes registered on the sandbox."""
    settings.PUBLIC_URL = live_app.url
    settings.MEDIA_ROOT = live_app.logs.parent / "media"
    for name, value in {
        "WHATSAPP_GRAPH_URL": f"{provider_sandbox.url}/graph",
        "MESSENGER_GRAPH_URL": f"{provider_sandbox.url}/graph",
        "TELEGRAM_API_URL": f"{provider_sandbox.url}/telegram",
        "TWILIO_API_URL": f"{provider_sandbox.url}/twilio",
    }.items():
        setattr(settings, name, value)
    provider_sandbox.reset(accounts=True)
    load_demo_data()
    register_active_inboxes(provider_sandbox)
    yield provider_sandbox
    settle(provider_sandbox)
    provider_sandbox.reset(accounts=True)


def settle(sandbox):
    """Let the worker finish what the test started before the database is emptied: a
    task still writing while the tables are truncated would deadlock the flush."""
    from conversations.models import Attachment

    sandbox.release()
    with contextlib.suppress(TimeoutError):
        sandbox.wait_until_idle(timeout=10)

    def idle():
        return not (
            InboundEvent.objects.filter(status=InboundEventStatus.PENDING).exists()
            or Message.objects.filter(
                status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
            ).exists()
            or Attachment.objects.filter(file="", fetch_error="").exists()
        )

    with contextlib.suppress(AssertionError):
        wait_for(idle, 15)
    time.sleep(0.3)


def inbound(text):
    return wait_for(
        lambda: Message.objects.filter(body=text, direction=Direction.INBOUND).first(), 20
    )


def reply(live_app, conversation, text):
    agent = signed_in_client(live_app, "agent@example.com")
    return agent.post(
        f"/conversations/{conversation.pk}/reply/",
        data={"body": text},
        headers={"X-CSRFToken": agent.cookies["csrftoken"], "HX-Request": "true"},
    )


def status_of(message):
    return Message.objects.get(pk=message.pk).status


@pytest.mark.parametrize("kind", list(CHANNELS))
def test_a_customer_message_is_stored_and_pushed_live(kind, providers):
    channel = CHANNELS[kind]

    answer = channel.writes(providers, f"Hello from {kind}")

    assert answer.status_code == 200
    message = inbound(f"Hello from {kind}")
    assert message.inbox.kind == kind
    assert LiveEvent.objects.filter(kind="message.created", message=message).exists()


@pytest.mark.parametrize("kind", list(CHANNELS))
def test_a_customer_image_is_fetched_into_storage(kind, providers):
    channel = CHANNELS[kind]

    channel.writes(providers, f"Photo on {kind}", image=PNG)

    message = inbound(f"Photo on {kind}")
    attachment = wait_for(lambda: message.attachments.exclude(file="").first(), 20)
    assert attachment.content_type == "image/png"
    assert attachment.file.read() == PNG


@pytest.mark.parametrize("kind", list(CHANNELS))
def test_a_reply_reaches_the_provider_and_is_marked_sent(kind, live_app, providers):
    channel = CHANNELS[kind]
    channel.writes(providers, f"Question on {kind}")
    conversation = inbound(f"Question on {kind}").conversation

    assert reply(live_app, conversation, f"Answer on {kind}").status_code == 200

    sent = Message.objects.get(body=f"Answer on {kind}")
    wait_for(lambda: status_of(sent) in TAKEN, 40)
    assert channel.sent_texts(providers) == [f"Answer on {kind}"]
    assert Message.objects.get(pk=sent.pk).external_id


def test_a_whatsapp_reply_is_the_request_the_cloud_api_expects(live_app, providers):
    channel = CHANNELS["whatsapp"]
    channel.writes(providers, "Do you ship to Madrid?")
    conversation = inbound("Do you ship to Madrid?").conversation

    reply(live_app, conversation, "Yes, in two days.")

    wait_for(lambda: channel.sends(providers), 20)
    request = channel.sends(providers)[0]
    assert request["path"] == "/graph/v21.0/100000000000001/messages"
    assert request["headers"]["authorization"] == "Bearer demo-whatsapp-token"
    assert request["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "34600111222",
        "type": "text",
        "text": {"body": "Yes, in two days.", "preview_url": False},
    } or (
        request["json"]["to"] == "34600111222"
        and request["json"]["text"]["body"] == "Yes, in two days."
    )


@pytest.mark.parametrize(
    ("kind", "final"),
    [
        ("whatsapp", DeliveryStatus.READ),
        ("messenger", DeliveryStatus.READ),
        ("instagram", DeliveryStatus.READ),
        ("twilio_sms", DeliveryStatus.DELIVERED),
    ],
)
def test_receipts_move_the_ticks_forward(kind, final, live_app, providers):
    channel = CHANNELS[kind]
    channel.writes(providers, f"Receipts on {kind}")
    conversation = inbound(f"Receipts on {kind}").conversation

    reply(live_app, conversation, f"Tick tock on {kind}")

    sent = Message.objects.get(body=f"Tick tock on {kind}")
    wait_for(lambda: status_of(sent) == final, 20)


@pytest.mark.parametrize("kind", list(CHANNELS))
def test_a_forged_delivery_is_refused_and_nothing_is_stored(kind, live_app, providers):
    channel = CHANNELS[kind]
    inbox = channel.inbox()
    channel.writes(providers, "genuine")
    genuine = providers.callbacks()[-1]
    headers = dict(genuine["headers"])
    for name in list(headers):
        if name.lower() in (
            "x-hub-signature-256",
            "x-hub-signature",
            "x-telegram-bot-api-secret-token",
            "x-twilio-signature",
        ):
            headers[name] = "sha256=" + "0" * 64
    forged_body = genuine["body"].replace(b"genuine", b"forged!")
    stored = InboundEvent.objects.count()

    answer = httpx.post(inbox.webhook_url, content=forged_body, headers=headers)

    assert answer.status_code == 403
    assert InboundEvent.objects.count() == stored
    assert not Message.objects.filter(body="forged!").exists()


@pytest.mark.parametrize("kind", ["whatsapp", "telegram", "twilio_sms", "messenger"])
def test_five_concurrent_copies_of_a_delivery_make_one_message(kind, providers):
    channel = CHANNELS[kind]
    channel.writes(providers, f"Only once on {kind}")
    inbound(f"Only once on {kind}")
    genuine = providers.callbacks()[-1]
    answers = []

    def post():
        answers.append(
            httpx.post(genuine["url"], content=genuine["body"], headers=genuine["headers"])
        )

    threads = [threading.Thread(target=post) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [200] * 5
    time.sleep(1)
    assert Message.objects.filter(body=f"Only once on {kind}").count() == 1


def test_a_rate_limited_send_is_retried_and_sent_once(live_app, providers):
    # On Twilio: on WhatsApp the agent's read mark shares the send endpoint and could
    # take the fault instead.
    channel = CHANNELS["twilio_sms"]
    channel.writes(providers, "Rate me")
    conversation = inbound("Rate me").conversation
    providers.queue_fault("twilio", "429", path="/Messages.json$", count=1, retry_after=1)

    reply(live_app, conversation, "After the limit")

    sent = Message.objects.get(body="After the limit")
    wait_for(lambda: status_of(sent) in TAKEN, 40)
    statuses = [r["status"] for r in channel.sends(providers)]
    assert statuses[0] == 429
    assert channel.sent_texts(providers) == ["After the limit"]


def test_server_errors_until_failure_then_the_agent_retries(live_app, providers):
    channel = CHANNELS["telegram"]
    channel.writes(providers, "Server trouble")
    conversation = inbound("Server trouble").conversation
    providers.queue_fault("telegram", "500", path="/sendMessage$", count=3)

    reply(live_app, conversation, "Through the storm")

    sent = Message.objects.get(body="Through the storm")
    wait_for(lambda: status_of(sent) == DeliveryStatus.FAILED, 30)
    assert "3" in Message.objects.get(pk=sent.pk).error_message
    assert channel.sent_texts(providers) == []

    agent = signed_in_client(live_app, "agent@example.com")
    answer = agent.post(
        f"/conversations/{conversation.pk}/messages/{sent.pk}/retry/",
        headers={"X-CSRFToken": agent.cookies["csrftoken"], "HX-Request": "true"},
    )
    assert answer.status_code in (200, 204)
    wait_for(lambda: status_of(sent) == DeliveryStatus.SENT, 20)
    assert channel.sent_texts(providers) == ["Through the storm"]


def test_a_read_timeout_leaves_the_message_unknown_and_never_resends_it(live_app, providers):
    channel = CHANNELS["twilio_sms"]
    channel.writes(providers, "Slow line")
    conversation = inbound("Slow line").conversation
    # The live worker's read timeout is 3 s (tests/conftest.py); the answer comes after 6.
    providers.queue_fault("twilio", "timeout", path="/Messages.json$", count=1, seconds=6)

    reply(live_app, conversation, "Did this arrive?")

    sent = Message.objects.get(body="Did this arrive?")
    wait_for(lambda: status_of(sent) == DeliveryStatus.UNKNOWN, 20)
    time.sleep(4)
    assert status_of(sent) == DeliveryStatus.UNKNOWN
    assert len(channel.sends(providers)) == 1


def test_replies_leave_in_the_order_they_were_written(live_app, providers):
    channel = CHANNELS["messenger"]
    channel.writes(providers, "Tell me three things")
    conversation = inbound("Tell me three things").conversation
    providers.queue_fault("messenger", "429", path="/me/messages$", count=1, retry_after=1)

    for text in ("One", "Two", "Three"):
        reply(live_app, conversation, text)

    last = Message.objects.get(body="Three")
    wait_for(lambda: status_of(last) in TAKEN, 30)
    assert channel.sent_texts(providers) == ["One", "Two", "Three"]


def test_outside_the_whatsapp_window_free_text_is_refused(live_app, providers):
    channel = CHANNELS["whatsapp"]
    channel.writes(providers, "Old question")
    conversation = inbound("Old question").conversation
    Conversation.objects.filter(pk=conversation.pk).update(
        last_customer_message_at=timezone.now() - timedelta(hours=25)
    )

    answer = reply(live_app, conversation, "Too late?")

    assert answer.status_code == 422
    assert "24 hours" in answer.text
    assert not Message.objects.filter(body="Too late?").exists()
    assert channel.sends(providers) == []


def test_stop_opts_the_customer_out_and_replies_are_refused(live_app, providers):
    channel = CHANNELS["twilio_sms"]
    channel.writes(providers, "STOP")
    message = inbound("STOP")
    wait_for(
        lambda: Consent.objects.filter(
            contact=message.conversation.contact, state=ConsentState.OPTED_OUT
        ).exists()
    )

    answer = reply(live_app, message.conversation, "Are you sure?")

    assert answer.status_code == 422
    assert "opted out" in answer.text
    assert channel.sends(providers) == []

    channel.writes(providers, "START")
    inbound("START")
    wait_for(
        lambda: Consent.objects.filter(
            contact=message.conversation.contact, state=ConsentState.OPTED_IN
        ).exists()
    )
    assert reply(live_app, message.conversation, "Welcome back").status_code == 200


def test_a_signed_but_unreadable_delivery_becomes_a_failed_event_not_an_error(live_app, providers):
    from inbox.sandbox.payloads import meta_signature

    inbox = CHANNELS["whatsapp"].inbox()
    body = b'{"object": "whatsapp_business_account", "entry": "not a list"'

    answer = httpx.post(
        inbox.webhook_url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": meta_signature("demo-app-secret", body),
        },
    )

    assert answer.status_code == 200
    event = wait_for(
        lambda: InboundEvent.objects.filter(inbox=inbox, status=InboundEventStatus.FAILED).first()
    )
    assert event.error


def test_the_webhook_handshake_answers_the_challenge(live_app, providers):
    inbox = CHANNELS["whatsapp"].inbox()

    good = httpx.get(
        inbox.webhook_url,
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": "demo-verify-token",
        },
    )
    bad = httpx.get(
        inbox.webhook_url,
        params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "guess"},
    )

    assert (good.status_code, good.text) == (200, "1158201444")
    assert bad.status_code == 403


def test_a_delivery_over_4_mib_is_refused(live_app, providers):
    inbox = CHANNELS["telegram"].inbox()

    answer = httpx.post(
        inbox.webhook_url,
        content=b"{" + b" " * (4 * 1024 * 1024 + 10) + b"}",
        headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": "demo-telegram-secret",
        },
    )

    assert answer.status_code == 413
    assert not InboundEvent.objects.filter(inbox=inbox).exists()


def database_sessions_opened():
    """Connections PostgreSQL has accepted to this database since its statistics began."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_the_worker_keeps_its_database_connections_from_task_to_task(providers):
    whatsapp = CHANNELS["whatsapp"]
    whatsapp.writes(providers, "The first message of the day")
    inbound("The first message of the day")
    before = database_sessions_opened()

    for n in range(8):
        whatsapp.writes(providers, f"Message {n} of eight")
        inbound(f"Message {n} of eight")

    # Eight deliveries, each applied by its own task: connections are reused, not opened
    # per task (a new pool per task opened at least two each).
    assert database_sessions_opened() - before <= 3
