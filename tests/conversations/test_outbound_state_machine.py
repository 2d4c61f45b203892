"""The outbound state machine: queued → sending → sent, failed or unknown, one at a time
per conversation, and nothing that may have left is ever sent again automatically.

`deliver_outbound_message` runs here in-process with the real WhatsApp adapter, which
talks over real HTTP to an in-test provider sandbox; the sandbox's faults stand in for a
provider that limits, refuses or never answers. `claim` is what the sending task passes:
its own task id.
"""

from datetime import timedelta

import httpx
import pytest
from django.core.cache import cache
from django.utils import timezone

from contacts.services import get_or_create_identity
from conversations import services
from conversations.models import DeliveryStatus, Message, MessageKind
from conversations.services import DeliveryOutcome, deliver_outbound_message
from inbox.inbound import accept_delivery, apply_inbound_event
from inbox.models import Inbox, InboxKind, PendingReceipt, Role
from inbox.providers.whatsapp import WhatsAppAdapter
from inbox.sandbox import Sandbox
from inbox.tasks import deliver_message

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
ACCESS_TOKEN = "wa-token"
APP_SECRET = "wa-app-secret"
CUSTOMER = "16505551234"

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture(autouse=True)
def fresh_send_rates():
    """Send-rate counters live in the cache; every spec starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def retry_settings(settings):
    settings.OUTBOUND_RETRY_BASE_DELAY = 2.0
    settings.OUTBOUND_MAX_ATTEMPTS = 3
    settings.TASK_MAX_RETRY_DELAY = 900
    return settings


def add_whatsapp_inbox(sandbox, settings, *, webhook_url="http://127.0.0.1:9/", receipts=()):
    settings.WHATSAPP_GRAPH_URL = f"{sandbox.url}/graph"
    sandbox.add_whatsapp(
        PHONE_NUMBER_ID, WABA_ID, ACCESS_TOKEN, APP_SECRET, webhook_url, receipts=receipts
    )
    return Inbox.objects.create(
        name="Support WhatsApp",
        kind=InboxKind.WHATSAPP,
        provider_config={
            "phone_number_id": PHONE_NUMBER_ID,
            "waba_id": WABA_ID,
            "display_phone_number": "15550783881",
        },
        provider_secrets={
            "access_token": ACCESS_TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": "verify-me",
        },
    )


@pytest.fixture
def inbox(db, sandbox, retry_settings):
    """A WhatsApp inbox on the sandbox that posts no receipts."""
    return add_whatsapp_inbox(sandbox, retry_settings)


def customer_writes(inbox, wa_id=CUSTOMER, body="hola"):
    identity, _ = get_or_create_identity(inbox, wa_id, name="Ana", phone=f"+{wa_id}")
    return services.record_inbound_message(
        inbox, identity, body=body, external_id=f"wamid.from-{wa_id}-{body}"
    ).message.conversation


@pytest.fixture
def conversation(inbox):
    return customer_writes(inbox)


@pytest.fixture
def agent(make_user, inbox):
    return make_user(Role.AGENT, inboxes=[inbox], name="Ana Agent")


@pytest.fixture
def write(agent):
    """An agent's reply, saved as queued by the real action. The test's transaction never
    commits, so the action's own enqueue never runs: each spec sends it by hand."""

    def reply(conversation, body):
        message = services.send_reply(agent, conversation, body)
        assert message.status == DeliveryStatus.QUEUED
        return message

    return reply


def sends(sandbox):
    return [r for r in sandbox.requests("whatsapp") if r["path"].endswith("/messages")]


def texts_taken(sandbox):
    """What the provider took, in order."""
    return [r["json"]["text"]["body"] for r in sends(sandbox) if r["status"] == 200]


def left_sending_by(message, claim):
    """The message as a task leaves it when its worker dies mid-call."""
    Message.objects.filter(pk=message.pk).update(
        status=DeliveryStatus.SENDING, send_claim=claim, status_changed_at=timezone.now()
    )


def time_passes_until_the_next_attempt(message):
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timedelta(milliseconds=1)
    )


def current(message):
    return Message.objects.get(pk=message.pk)


# -- one send ---------------------------------------------------------------------------------


def test_a_queued_reply_is_claimed_sent_and_keeps_the_providers_id(sandbox, conversation, write):
    message = write(conversation, "Your order left today.")

    outcome = deliver_outbound_message(message.pk, claim="task-1")

    message = current(message)
    assert outcome == DeliveryOutcome()
    assert message.status == DeliveryStatus.SENT
    assert message.send_claim == "task-1"
    assert message.external_id in sandbox.whatsapp.sent
    assert texts_taken(sandbox) == ["Your order left today."]


def test_a_reply_already_sent_is_not_sent_by_a_second_task(sandbox, conversation, write):
    message = write(conversation, "Only once")
    deliver_outbound_message(message.pk, claim="task-1")

    outcome = deliver_outbound_message(message.pk, claim="task-2")

    assert outcome == DeliveryOutcome()
    assert current(message).status == DeliveryStatus.SENT
    assert len(sends(sandbox)) == 1


# -- the claim --------------------------------------------------------------------------------


def test_a_reply_left_sending_under_the_same_claim_becomes_unknown_and_is_not_sent(
    sandbox, conversation, write
):
    message = write(conversation, "Did the worker die?")
    left_sending_by(message, "task-1")

    outcome = deliver_outbound_message(message.pk, claim="task-1")

    message = current(message)
    assert outcome == DeliveryOutcome()
    assert message.status == DeliveryStatus.UNKNOWN
    assert "may not have been delivered" in message.error_message
    assert message.send_claim == "task-1"
    assert sends(sandbox) == []


def test_a_reply_sending_under_another_claim_is_left_to_that_task(sandbox, conversation, write):
    message = write(conversation, "Someone else is on it")
    left_sending_by(message, "task-1")

    outcome = deliver_outbound_message(message.pk, claim="task-2")

    message = current(message)
    assert outcome == DeliveryOutcome()
    assert (message.status, message.send_claim) == (DeliveryStatus.SENDING, "task-1")
    assert sends(sandbox) == []


def test_the_sending_task_claims_with_its_own_task_id(sandbox, conversation, write):
    redelivered, other = write(conversation, "Redelivered"), write(conversation, "Other")
    left_sending_by(redelivered, "celery-task-7")
    left_sending_by(other, "celery-task-8")

    deliver_message.apply((redelivered.pk,), task_id="celery-task-7")
    deliver_message.apply((other.pk,), task_id="celery-task-9")

    assert current(redelivered).status == DeliveryStatus.UNKNOWN
    assert current(other).status == DeliveryStatus.SENDING
    assert sends(sandbox) == []


def test_after_a_reply_turns_unknown_the_next_queued_one_is_sent_next(sandbox, conversation, write):
    first, second = write(conversation, "First"), write(conversation, "Second")
    left_sending_by(first, "task-1")

    outcome = deliver_outbound_message(first.pk, claim="task-1")

    assert outcome == DeliveryOutcome(next_message_id=second.pk)
    deliver_outbound_message(second.pk, claim="task-2")
    assert current(second).status == DeliveryStatus.SENT
    assert texts_taken(sandbox) == ["Second"]


# -- retries: only when the provider did not take the message --------------------------------


def test_a_rate_limited_reply_is_queued_again_no_sooner_than_the_provider_asked(
    sandbox, conversation, write
):
    message = write(conversation, "Busy line")
    sandbox.queue_fault("whatsapp", "429", retry_after=7)
    before = timezone.now()

    outcome = deliver_outbound_message(message.pk, claim="task-1")

    message = current(message)
    assert message.status == DeliveryStatus.QUEUED
    assert message.send_attempts == 1
    assert message.error_code == "130429"
    assert outcome.retry_in >= 7
    assert message.next_attempt_at >= before + timedelta(seconds=7)


def test_a_retry_asked_for_too_early_waits_and_sends_nothing(sandbox, conversation, write):
    message = write(conversation, "Not yet")
    sandbox.queue_fault("whatsapp", "429", retry_after=7)
    deliver_outbound_message(message.pk, claim="task-1")

    early = deliver_outbound_message(message.pk, claim="task-2")

    assert 0 < early.retry_in <= 7
    assert current(message).status == DeliveryStatus.QUEUED
    assert len(sends(sandbox)) == 1


def test_once_the_wait_is_over_the_retry_is_sent_once(sandbox, conversation, write):
    message = write(conversation, "Second time lucky")
    sandbox.queue_fault("whatsapp", "429", retry_after=7)
    deliver_outbound_message(message.pk, claim="task-1")
    time_passes_until_the_next_attempt(message)

    outcome = deliver_outbound_message(message.pk, claim="task-2")

    assert outcome == DeliveryOutcome()
    assert current(message).status == DeliveryStatus.SENT
    assert [r["status"] for r in sends(sandbox)] == [429, 200]
    assert texts_taken(sandbox) == ["Second time lucky"]


def test_without_a_providers_wait_the_backoff_doubles_with_jitter(
    sandbox, conversation, write, retry_settings
):
    retry_settings.OUTBOUND_MAX_ATTEMPTS = 5
    message = write(conversation, "Server trouble")
    sandbox.queue_fault("whatsapp", "500", count=3)

    delays = []
    for _attempt in range(3):
        delays.append(deliver_outbound_message(message.pk, claim="task").retry_in)
        time_passes_until_the_next_attempt(message)

    for attempt, delay in enumerate(delays):
        backoff = 2.0 * 2**attempt
        assert 0.5 * backoff <= delay <= 1.5 * backoff
    deliver_outbound_message(message.pk, claim="task")
    assert current(message).status == DeliveryStatus.SENT


def test_no_retry_waits_longer_than_the_longest_task_delay(
    sandbox, conversation, write, retry_settings
):
    retry_settings.TASK_MAX_RETRY_DELAY = 60
    message = write(conversation, "Come back tomorrow")
    sandbox.queue_fault("whatsapp", "429", retry_after=86400)

    outcome = deliver_outbound_message(message.pk, claim="task-1")

    assert outcome.retry_in == 60


def test_after_the_last_attempt_the_reply_fails_with_the_reason(sandbox, conversation, write):
    message = write(conversation, "Never through")
    sandbox.queue_fault("whatsapp", "500", count=10)

    outcomes = []
    for _attempt in range(3):
        outcomes.append(deliver_outbound_message(message.pk, claim="task"))
        time_passes_until_the_next_attempt(message)

    message = current(message)
    assert [o.retry_in is not None for o in outcomes] == [True, True, False]
    assert message.status == DeliveryStatus.FAILED
    assert message.send_attempts == 3
    assert message.error_message.startswith("Not sent after 3 tries: ")
    assert len(sends(sandbox)) == 3
    deliver_outbound_message(message.pk, claim="task-again")
    assert len(sends(sandbox)) == 3


def test_a_permanent_refusal_fails_at_once_with_the_providers_code(sandbox, conversation, write):
    refused, following = write(conversation, "Refused"), write(conversation, "Following")
    sandbox.queue_fault(
        "whatsapp", "error", error=131026, status=400, message="(#131026) Message undeliverable"
    )

    outcome = deliver_outbound_message(refused.pk, claim="task-1")

    refused = current(refused)
    assert outcome == DeliveryOutcome(next_message_id=following.pk)
    assert refused.status == DeliveryStatus.FAILED
    assert refused.error_code == "131026"
    assert "(#131026) Message undeliverable" in refused.error_message
    assert refused.send_attempts == 0
    assert len(sends(sandbox)) == 1


def test_a_read_timeout_leaves_the_reply_unknown_and_it_is_never_sent_again(
    sandbox, conversation, write, settings
):
    settings.PROVIDER_HTTP_TIMEOUT = httpx.Timeout(connect=2, read=0.3, write=2, pool=2)
    message, following = write(conversation, "Slow"), write(conversation, "After slow")
    sandbox.queue_fault("whatsapp", "timeout", path="/messages$", seconds=1)

    outcome = deliver_outbound_message(message.pk, claim="task-1")

    assert outcome == DeliveryOutcome(next_message_id=following.pk)
    assert current(message).status == DeliveryStatus.UNKNOWN
    for claim in ("task-1", "task-2"):
        deliver_outbound_message(message.pk, claim=claim)
    assert current(message).status == DeliveryStatus.UNKNOWN
    assert [r["json"]["text"]["body"] for r in sends(sandbox)] == ["Slow"]


# -- one at a time per conversation ------------------------------------------------------------


def test_a_later_reply_waits_while_an_earlier_one_is_queued(sandbox, conversation, write):
    first, second = write(conversation, "One"), write(conversation, "Two")

    waiting = deliver_outbound_message(second.pk, claim="task-2")

    assert waiting == DeliveryOutcome()
    assert current(second).status == DeliveryStatus.QUEUED
    assert sends(sandbox) == []
    assert deliver_outbound_message(first.pk, claim="task-1") == DeliveryOutcome(
        next_message_id=second.pk
    )
    deliver_outbound_message(second.pk, claim="task-3")
    assert texts_taken(sandbox) == ["One", "Two"]


def test_a_later_reply_waits_while_an_earlier_one_is_sending(sandbox, conversation, write):
    first, second = write(conversation, "One"), write(conversation, "Two")
    left_sending_by(first, "task-1")

    assert deliver_outbound_message(second.pk, claim="task-2") == DeliveryOutcome()

    assert current(second).status == DeliveryStatus.QUEUED
    assert sends(sandbox) == []


def test_a_reply_waiting_for_a_retry_holds_back_the_next_one(sandbox, conversation, write):
    first, second = write(conversation, "One"), write(conversation, "Two")
    sandbox.queue_fault("whatsapp", "429", retry_after=5)
    deliver_outbound_message(first.pk, claim="task-1")

    assert deliver_outbound_message(second.pk, claim="task-2") == DeliveryOutcome()

    time_passes_until_the_next_attempt(first)
    outcome = deliver_outbound_message(first.pk, claim="task-3")
    assert outcome == DeliveryOutcome(next_message_id=second.pk)
    deliver_outbound_message(second.pk, claim="task-4")
    assert texts_taken(sandbox) == ["One", "Two"]


def test_a_failed_or_unknown_earlier_reply_does_not_hold_back_the_next(
    sandbox, conversation, write
):
    failed, unknown, next_one = (write(conversation, t) for t in ("Failed", "Unknown", "Next"))
    Message.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED)
    Message.objects.filter(pk=unknown.pk).update(status=DeliveryStatus.UNKNOWN)

    deliver_outbound_message(next_one.pk, claim="task-1")

    assert texts_taken(sandbox) == ["Next"]


def test_a_private_note_does_not_hold_back_a_reply(sandbox, conversation, write, agent):
    services.add_note(agent, conversation, "Check the warehouse first")
    reply = write(conversation, "On its way")

    deliver_outbound_message(reply.pk, claim="task-1")

    assert Message.objects.filter(kind=MessageKind.NOTE).count() == 1
    assert texts_taken(sandbox) == ["On its way"]


def test_replies_of_another_conversation_do_not_wait(sandbox, inbox, conversation, write):
    other = customer_writes(inbox, wa_id="16505559999")
    write(conversation, "Held back elsewhere")
    elsewhere = write(other, "Free to go")

    deliver_outbound_message(elsewhere.pk, claim="task-1")

    assert texts_taken(sandbox) == ["Free to go"]


# -- receipts ---------------------------------------------------------------------------------


class ReceiptsBeforeTheSendReturns:
    """Applies the sandbox's real receipts (through the same path as a webhook delivery)
    in the window after the provider answered and before our send returns: what happens
    when the webhook is quicker than the sending worker."""

    def __init__(self, receiver, count):
        self.receiver = receiver
        self.count = count
        self.pending_seen = []

    def wrap(self, send):
        def send_then_receipts_arrive(adapter, message):
            result = send(adapter, message)
            for post in self.receiver.wait_for(self.count)[-self.count :]:
                content_type = post["headers"].get("Content-Type", "application/json")
                event = accept_delivery(adapter.inbox, body=post["body"], content_type=content_type)
                apply_inbound_event(event.event.pk)
            self.pending_seen = sorted(
                PendingReceipt.objects.filter(external_id=result.external_id).values_list(
                    "status", flat=True
                )
            )
            assert current(message).status == DeliveryStatus.SENDING
            return result

        return send_then_receipts_arrive


@pytest.fixture
def receiver():
    from tests.sandbox.conftest import Receiver

    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def receipts_inbox(db, sandbox, retry_settings, receiver):
    def make(receipts):
        return add_whatsapp_inbox(
            sandbox, retry_settings, webhook_url=receiver.url, receipts=receipts
        )

    return make


def test_receipts_that_arrive_before_the_send_returns_are_applied_when_it_does(
    sandbox, receipts_inbox, receiver, make_user, monkeypatch
):
    inbox = receipts_inbox(("sent", "delivered", "read"))
    agent = make_user(Role.AGENT, inboxes=[inbox])
    message = services.send_reply(agent, customer_writes(inbox), "Quick receipts")
    early = ReceiptsBeforeTheSendReturns(receiver, 3)
    monkeypatch.setattr(WhatsAppAdapter, "send_message", early.wrap(WhatsAppAdapter.send_message))

    deliver_outbound_message(message.pk, claim="task-1")

    message = current(message)
    assert early.pending_seen == ["delivered", "read", "sent"]
    assert message.status == DeliveryStatus.READ
    assert not PendingReceipt.objects.filter(external_id=message.external_id).exists()


def test_a_failed_receipt_before_the_send_returns_fails_the_reply(
    sandbox, receipts_inbox, receiver, make_user, monkeypatch
):
    inbox = receipts_inbox(("failed",))
    agent = make_user(Role.AGENT, inboxes=[inbox])
    message = services.send_reply(agent, customer_writes(inbox), "Undeliverable")
    early = ReceiptsBeforeTheSendReturns(receiver, 1)
    monkeypatch.setattr(WhatsAppAdapter, "send_message", early.wrap(WhatsAppAdapter.send_message))

    deliver_outbound_message(message.pk, claim="task-1")

    message = current(message)
    assert message.status == DeliveryStatus.FAILED
    assert message.error_code == "131026"
    assert not PendingReceipt.objects.exists()


def test_receipts_only_ever_move_a_reply_forward(sandbox, receipts_inbox, receiver, make_user):
    inbox = receipts_inbox(("sent", "delivered", "read"))
    agent = make_user(Role.AGENT, inboxes=[inbox])
    message = services.send_reply(agent, customer_writes(inbox), "Ticks")
    deliver_outbound_message(message.pk, claim="task-1")
    posts = receiver.wait_for(3)
    by_status = {}
    for post in posts:
        [receipt] = WhatsAppAdapter(inbox).parse(post["body"], "application/json").statuses
        by_status[receipt.status] = receipt

    seen = []
    for status in ("read", "delivered", "sent", "read", "delivered"):
        services.apply_receipt(inbox, by_status[status])
        seen.append(current(message).status)

    assert seen == ["read"] * 5
