"""A Celery worker SIGKILLed mid-work, on the fault suite's own stack.

The worker takes two tasks at a time with one slot: the first reply is held by the
provider (the sandbox answers only when released), the second waits inside the worker,
still `queued`. The kill loses neither: after a restart the waiting one is sent once, and
the held one, whose outcome nobody can know, becomes `unknown` and is never sent again by
itself, even though the provider did take it.
"""

import time

import pytest

from tests.killable_worker import VISIBILITY_TIMEOUT
from tests.live_app import wait_until
from tests.reliability.helpers import TAKEN, outbound_lost_and_duplicated, telegram_conversation
from tests.sandbox_sends import hold_the_next_send, sends, taken

pytestmark = pytest.mark.reliability


@pytest.fixture
def stack_env():
    # Redis hands a dead worker's tasks back after 3 s; a held answer ends only by the kill.
    return {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT), "PROVIDER_READ_TIMEOUT": "60"}


@pytest.fixture
def worker_options():
    return ("--prefetch-multiplier=2",)


def test_a_killed_worker_sends_the_queued_reply_once_and_leaves_the_held_one_unknown(
    stack, sandbox
):
    worker = stack.worker
    first = telegram_conversation(stack, sandbox, 55501, "Killed: first customer")
    second = telegram_conversation(stack, sandbox, 55502, "Killed: second customer")
    hold_the_next_send(sandbox)

    held = stack.control("reply", conversation=first, text="Held by the provider")
    sandbox.wait_for_held(1, timeout=20)
    waiting = stack.control("reply", conversation=second, text="Waiting for the slot")
    wait_until(lambda: worker.unacknowledged() == 2 and worker.waiting() == 0, 15, "prefetch")

    def status(message_id):
        return stack.control("outbound", ids=[message_id])[0]["status"]

    assert (status(held), status(waiting)) == ("sending", "queued")
    worker.kill()
    worker.start_after_the_visibility_timeout("--prefetch-multiplier=2")

    wait_until(lambda: status(waiting) in TAKEN, 30, "the waiting reply sent")
    wait_until(lambda: status(held) == "unknown", 30, "the held reply settled")
    # The provider answers the held request at last: it took the message.
    sandbox.release()
    wait_until(worker.idle, 15, "the worker idle")
    time.sleep(VISIBILITY_TIMEOUT + 1)
    assert worker.idle()
    much_later = stack.control("sending_grace") + 60
    assert stack.control("sweep_outbound", ahead=much_later) == {"requeued": 0, "unknown": 0}

    replies = stack.control("outbound", ids=[held, waiting])
    assert [r["status"] for r in replies][0] == "unknown"
    assert len(sends(sandbox, "Held by the provider")) == 1
    assert len(sends(sandbox, "Waiting for the slot")) == 1
    assert outbound_lost_and_duplicated(replies, lambda text: taken(sandbox, text)) == {
        "lost": 0,
        "duplicated": 0,
    }
