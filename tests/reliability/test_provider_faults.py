"""The providers misbehave and recover: every reply reaches them once, in order per
conversation; a reply whose answer never came is `unknown` and is sent at most once."""

import time

import pytest

from tests.live_app import wait_until
from tests.reliability.helpers import (
    TAKEN,
    outbound_lost_and_duplicated,
    telegram_conversation,
    whatsapp_conversation,
)
from tests.sandbox_sends import sends, taken, taken_in_order

pytestmark = pytest.mark.reliability


def whatsapp_texts(sandbox, status=200):
    """The texts WhatsApp took from us, in order (read marks are not messages)."""
    return [
        r["json"]["text"]["body"]
        for r in sandbox.requests("whatsapp")
        if r["path"].endswith("/messages")
        and (r["json"] or {}).get("type") == "text"
        and r["status"] == status
    ]


def test_rate_limits_server_errors_and_refused_connections_end_with_each_reply_sent_once(
    stack, sandbox
):
    chat = telegram_conversation(stack, sandbox, 55601, "Faults: telegram customer")
    thread = whatsapp_conversation(stack, sandbox, "34600900031", "Faults: whatsapp customer")
    sandbox.queue_fault("telegram", "429", path="/sendMessage$", count=1, retry_after=1)
    sandbox.queue_fault("telegram", "500", path="/sendMessage$", count=1)
    sandbox.queue_fault("whatsapp", "500", path="/messages$", count=2)
    written = {chat: [], thread: []}
    replies = []
    for n in range(1, 4):
        for conversation in (chat, thread):
            text = f"Reply {n} in {conversation}"
            replies.append(stack.control("reply", conversation=conversation, text=text))
            written[conversation].append(text)

    def statuses():
        return [r["status"] for r in stack.control("outbound", ids=replies)]

    wait_until(lambda: all(s in TAKEN for s in statuses()), 40, "every reply sent")

    # The providers cannot be reached at all (connection refused), then come back.
    sandbox.stop()
    for conversation in (chat, thread):
        text = f"Reply 4 in {conversation}"
        replies.append(stack.control("reply", conversation=conversation, text=text))
        written[conversation].append(text)
    wait_until(
        lambda: all(r["send_attempts"] >= 1 for r in stack.control("outbound", ids=replies[-2:])),
        20,
        "a refused attempt",
    )
    sandbox.start()
    wait_until(lambda: all(s in TAKEN for s in statuses()), 40, "every reply sent")

    assert [r["status"] for r in sends(sandbox) if r["status"] != 200] == [429, 500]
    assert whatsapp_texts(sandbox, status=500) == [f"Reply 1 in {thread}"] * 2
    assert taken_in_order(sandbox) == written[chat]
    assert whatsapp_texts(sandbox) == written[thread]

    def times_taken(text):
        return taken(sandbox, text) + whatsapp_texts(sandbox).count(text)

    final = stack.control("outbound", ids=replies)
    assert outbound_lost_and_duplicated(final, times_taken) == {"lost": 0, "duplicated": 0}


def test_a_read_timeout_leaves_the_reply_unknown_and_it_is_sent_at_most_once(stack, sandbox):
    chat = telegram_conversation(stack, sandbox, 55701, "Slow: telegram customer")
    # Our read timeout is 3 s; the provider answers (and takes the message) after 5.
    sandbox.queue_fault("telegram", "timeout", path="/sendMessage$", count=1, seconds=5)

    reply = stack.control("reply", conversation=chat, text="Did this arrive?")

    def status():
        return stack.control("outbound", ids=[reply])[0]["status"]

    wait_until(lambda: status() == "unknown", 20, "the reply unknown")
    wait_until(lambda: taken(sandbox, "Did this arrive?") == 1, 10, "the provider's answer")
    much_later = stack.control("sending_grace") + 60
    assert stack.control("sweep_outbound", ahead=much_later) == {"requeued": 0, "unknown": 0}
    time.sleep(1)
    assert stack.worker.idle()
    assert status() == "unknown"
    assert len(sends(sandbox, "Did this arrive?")) == 1
    # Unknown is not lost: the agent sees it may not have arrived (and may resend it).
    final = stack.control("outbound", ids=[reply])
    assert final[0]["error"]
    counts = outbound_lost_and_duplicated(final, lambda text: taken(sandbox, text))
    assert counts == {"lost": 0, "duplicated": 0}
