"""A Celery worker killed mid-work loses no reply and sends none twice.

Each spec runs its own worker process (`KillableWorker`): Switchboard's app on the test
database, the real Redis and the provider sandbox, like the live app's worker, but on a
queue of its own and with a visibility timeout of 3 s, so Redis hands an unacknowledged
task back soon after the worker is SIGKILLed. A worker hands such tasks back when it
starts, so the specs restart it once the timeout has passed.

Replies are written by the real action, `conversations.services.send_reply`, whose
enqueue on commit goes to that worker: for the length of a spec this test process sends
its tasks to the worker's queue, just as the web process and the workers share one queue
in production. Nothing in the path from the action to the provider is patched or faked;
a spec that needs a task to vanish removes it from Redis.

Every spec ends with the same count over its replies: none lost (left queued or sending
with nobody to finish it, or shown as sent although the provider never got it) and none
duplicated (the provider got it more than once).
"""

import contextlib
import os
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import services
from conversations.models import DeliveryStatus, Direction, Message
from inbox import sweepers
from inbox.celery import app as celery_app
from inbox.demo import load_demo_data
from inbox.models import InboundEvent, InboundEventStatus, Inbox, InboxKind, User
from inbox.sandbox.inboxes import register_active_inboxes
from tests.conftest import database_url_for_tests, sandbox_settings
from tests.integration.test_live_app import signed_in_client, wait_for
from tests.killable_worker import VISIBILITY_TIMEOUT, KillableWorker
from tests.live_app import ROOT
from tests.sandbox_sends import hold_the_next_send, sends, taken, taken_in_order

pytestmark = pytest.mark.integration

TAKEN = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ)


@pytest.fixture
def workspace(live_app, provider_sandbox, transactional_db, settings):
    """The demo workspace, its provider inboxes registered on the sandbox."""
    settings.PUBLIC_URL = live_app.url
    provider_sandbox.reset(accounts=True)
    load_demo_data()
    register_active_inboxes(provider_sandbox)
    yield provider_sandbox
    provider_sandbox.release()
    # The live app's worker may still be applying a customer's message: let it finish
    # before the tables are emptied.
    with contextlib.suppress(AssertionError):
        wait_for(
            lambda: not InboundEvent.objects.filter(status=InboundEventStatus.PENDING).exists(),
            15,
        )
    provider_sandbox.reset(accounts=True)


@pytest.fixture
def worker(live_app, provider_sandbox, workspace, tmp_path):
    """A killable worker (not started yet); this process's tasks go to its queue."""
    queue = f"switchboard-faults-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        **sandbox_settings(provider_sandbox),
        "DATABASE_URL": database_url_for_tests(),
        "PUBLIC_URL": live_app.url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SWITCHBOARD_LOCAL_DIR": str(ROOT / ".local"),
        "MEDIA_ROOT": str(live_app.logs.parent / "media"),
        "DATABASE_POOL_MAX": "4",
        "PYTHONUNBUFFERED": "1",
        "CELERY_QUEUE": queue,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "SWITCHBOARD_UNACKED_KEYS": queue,
        # A held answer must end only by the kill, never by the worker's own read timeout.
        "PROVIDER_READ_TIMEOUT": "60",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    killable = KillableWorker(env, tmp_path, queue)
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        yield killable
    finally:
        celery_app.conf.task_default_queue = default_queue
        provider_sandbox.release()
        killable.stop()
        killable.forget()


# -- helpers -----------------------------------------------------------------------------------


def telegram_conversation(sandbox, chat_id, text):
    """A Telegram customer writes to the demo bot (through the live app's webhook)."""
    inbox = Inbox.objects.get(kind=InboxKind.TELEGRAM)
    sandbox.telegram_customer_writes(inbox.provider_secrets["bot_token"], chat_id, text)
    message = wait_for(
        lambda: Message.objects.filter(body=text, direction=Direction.INBOUND).first(), 20
    )
    return message.conversation


def agent_replies(conversation, text):
    agent = User.objects.get(email="agent@example.com")
    return services.send_reply(agent, conversation, text)


def current(message):
    return Message.objects.get(pk=message.pk)


def status_of(message):
    return current(message).status


def claimed(message):
    """The message is being sent: the id of the task that claimed it."""
    message = current(message)
    return message.send_claim if message.status == DeliveryStatus.SENDING else ""


def lost_and_duplicated(sandbox, messages):
    lost = duplicated = 0
    for message in map(current, messages):
        times = taken(sandbox, message.body)
        stuck = message.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
        if stuck or (message.status in TAKEN and times == 0):
            lost += 1
        if times > 1:
            duplicated += 1
    return {"lost": lost, "duplicated": duplicated}


def message_html(live_app, message):
    agent = signed_in_client(live_app, "agent@example.com")
    page = agent.get(f"/conversations/{message.conversation_id}/")
    assert page.status_code == 200
    start = page.text.index(f'id="message-{message.pk}"')
    return page.text[start : page.text.index("</li>", start)]


NOTHING_TO_DO = {"requeued": 0, "unknown": 0}


# -- specs -------------------------------------------------------------------------------------


def test_a_worker_killed_while_the_provider_holds_its_answer_leaves_the_reply_unknown(
    live_app, workspace, worker
):
    sandbox = workspace
    conversation = telegram_conversation(sandbox, 55501, "Is my parcel on its way?")
    worker.start()
    hold_the_next_send(sandbox)

    reply = agent_replies(conversation, "Yes, it left this morning.")
    sandbox.wait_for_held(1, timeout=20)
    task_id = wait_for(lambda: claimed(reply), 10)
    worker.kill()
    worker.start_after_the_visibility_timeout()

    # The redelivered task finds its own claim: the send may have left, so it is not resent.
    wait_for(lambda: status_of(reply) == DeliveryStatus.UNKNOWN, 20)
    wait_for(lambda: worker.finished(task_id), 10)
    assert current(reply).send_claim == task_id
    html = message_html(live_app, reply)
    assert "may not have been delivered" in html
    assert "Resend</button>" in html

    # The provider did take it in the end; still nothing sends it again by itself.
    sandbox.release()
    wait_for(worker.idle, 10)
    time.sleep(VISIBILITY_TIMEOUT + 1)
    assert sweepers.sweep_outbound_messages() == NOTHING_TO_DO
    much_later = timezone.now() + sweepers.sending_grace() + sweepers.QUEUED_GRACE
    assert sweepers.sweep_outbound_messages(now=much_later) == NOTHING_TO_DO
    assert worker.idle()
    assert status_of(reply) == DeliveryStatus.UNKNOWN
    assert len(sends(sandbox, "Yes, it left this morning.")) == 1
    assert lost_and_duplicated(sandbox, [reply]) == {"lost": 0, "duplicated": 0}


def test_a_reply_the_killed_worker_had_taken_but_not_started_is_sent_once_after_restart(
    workspace, worker
):
    sandbox = workspace
    first = telegram_conversation(sandbox, 55501, "First customer")
    second = telegram_conversation(sandbox, 55502, "Second customer")
    # One slot, two tasks taken at a time: the second waits inside the worker.
    worker.start("--prefetch-multiplier=2")
    hold_the_next_send(sandbox)

    held = agent_replies(first, "Held by the provider")
    sandbox.wait_for_held(1, timeout=20)
    waiting = agent_replies(second, "Waiting for the slot")
    wait_for(lambda: worker.unacknowledged() == 2 and worker.waiting() == 0, 10)
    assert status_of(waiting) == DeliveryStatus.QUEUED
    worker.kill()
    worker.start_after_the_visibility_timeout()

    wait_for(lambda: status_of(waiting) in TAKEN, 20)
    wait_for(lambda: status_of(held) == DeliveryStatus.UNKNOWN, 20)
    sandbox.release()
    wait_for(worker.idle, 10)
    time.sleep(VISIBILITY_TIMEOUT + 1)
    assert worker.idle()
    assert len(sends(sandbox, "Waiting for the slot")) == 1
    assert lost_and_duplicated(sandbox, [held, waiting]) == {"lost": 0, "duplicated": 0}


def test_a_reply_queued_behind_one_the_killed_worker_was_sending_goes_next_once(workspace, worker):
    sandbox = workspace
    conversation = telegram_conversation(sandbox, 55501, "Two questions")
    worker.start()
    hold_the_next_send(sandbox)

    earlier = agent_replies(conversation, "First answer")
    sandbox.wait_for_held(1, timeout=20)
    later = agent_replies(conversation, "Second answer")
    # Its task waits in the queue: the worker's one slot is busy with the held send.
    wait_for(lambda: worker.waiting() == 1 and worker.unacknowledged() == 1, 10)
    assert status_of(later) == DeliveryStatus.QUEUED
    worker.kill()
    worker.start_after_the_visibility_timeout()

    wait_for(lambda: status_of(later) in TAKEN, 20)
    assert status_of(earlier) == DeliveryStatus.UNKNOWN
    sandbox.release()
    wait_for(worker.idle, 10)
    time.sleep(VISIBILITY_TIMEOUT + 1)
    assert worker.idle()
    assert [(r["json"] or r["form"])["text"] for r in sends(sandbox)] == [
        "First answer",
        "Second answer",
    ]
    assert taken_in_order(sandbox) == ["First answer", "Second answer"]
    assert lost_and_duplicated(sandbox, [earlier, later]) == {"lost": 0, "duplicated": 0}


def test_a_retry_the_killed_worker_was_keeping_for_later_is_sent_once_after_restart(
    workspace, worker
):
    sandbox = workspace
    conversation = telegram_conversation(sandbox, 55501, "Busy bot?")
    worker.start()
    sandbox.queue_fault("telegram", "429", path="/sendMessage$", count=1, retry_after=6)

    reply = agent_replies(conversation, "Sent after the limit")
    # The 429 put it back in the queue; its retry waits inside the worker for its time.
    wait_for(lambda: current(reply).send_attempts == 1, 20)
    first_task = current(reply).send_claim
    wait_for(lambda: worker.finished(first_task), 10)
    wait_for(lambda: worker.waiting() == 0 and worker.unacknowledged() == 1, 10)
    assert status_of(reply) == DeliveryStatus.QUEUED
    worker.kill()
    worker.start_after_the_visibility_timeout()

    wait_for(lambda: status_of(reply) in TAKEN, 20)
    wait_for(worker.idle, 10)
    assert [r["status"] for r in sends(sandbox, "Sent after the limit")] == [429, 200]
    assert lost_and_duplicated(sandbox, [reply]) == {"lost": 0, "duplicated": 0}


def test_the_sweeper_marks_a_reply_stuck_sending_unknown_and_nothing_resends_it(workspace, worker):
    sandbox = workspace
    conversation = telegram_conversation(sandbox, 55501, "Anyone there?")
    worker.start()
    hold_the_next_send(sandbox)
    reply = agent_replies(conversation, "Stuck mid-send")
    sandbox.wait_for_held(1, timeout=20)
    task_id = wait_for(lambda: claimed(reply), 10)
    worker.kill()
    since = current(reply).status_changed_at

    before_grace = sweepers.sweep_outbound_messages(
        now=since + sweepers.sending_grace() - timedelta(seconds=1)
    )
    assert before_grace == NOTHING_TO_DO
    assert status_of(reply) == DeliveryStatus.SENDING
    after_grace = sweepers.sweep_outbound_messages(
        now=since + sweepers.sending_grace() + timedelta(seconds=1)
    )
    assert after_grace == {"requeued": 0, "unknown": 1}
    assert status_of(reply) == DeliveryStatus.UNKNOWN
    assert "may not have been delivered" in current(reply).error_message

    # The dead worker's task comes back and finds the reply settled: it sends nothing.
    sandbox.release()
    worker.start_after_the_visibility_timeout()
    wait_for(lambda: worker.finished(task_id), 20)
    wait_for(worker.idle, 10)
    assert status_of(reply) == DeliveryStatus.UNKNOWN
    assert len(sends(sandbox, "Stuck mid-send")) == 1
    assert lost_and_duplicated(sandbox, [reply]) == {"lost": 0, "duplicated": 0}


def test_the_sweeper_requeues_a_reply_whose_task_vanished_and_it_is_sent_once(workspace, worker):
    sandbox = workspace
    conversation = telegram_conversation(sandbox, 55501, "Hello?")
    reply = agent_replies(conversation, "Lost and found")
    assert worker.waiting() == 1
    worker.lose_waiting_tasks()

    assert sweepers.sweep_outbound_messages() == NOTHING_TO_DO
    later = current(reply).status_changed_at + sweepers.QUEUED_GRACE + timedelta(seconds=1)
    # Two sweeps before any worker runs: the reply has two tasks now.
    assert sweepers.sweep_outbound_messages(now=later) == {"requeued": 1, "unknown": 0}
    assert sweepers.sweep_outbound_messages(now=later) == {"requeued": 1, "unknown": 0}
    assert worker.waiting() == 2
    worker.start()

    wait_for(lambda: status_of(reply) in TAKEN, 20)
    wait_for(worker.idle, 10)
    assert len(sends(sandbox, "Lost and found")) == 1
    much_later = later + sweepers.QUEUED_GRACE + sweepers.sending_grace()
    assert sweepers.sweep_outbound_messages(now=much_later) == NOTHING_TO_DO
    assert lost_and_duplicated(sandbox, [reply]) == {"lost": 0, "duplicated": 0}
