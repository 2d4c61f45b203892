"""What our side sent the provider sandbox's Telegram Bot API: shared by the worker fault
specs (tests/integration/test_worker_faults.py) and the fault suite (tests/reliability/)."""


def hold_the_next_send(sandbox):
    """The next sendMessage waits, unanswered, until `sandbox.release()`."""
    sandbox.queue_fault("telegram", "hold", path="/sendMessage$", count=1)


def sends(sandbox, text=None):
    """Our requests to send a message (with this text), in order."""
    return [
        r
        for r in sandbox.requests("telegram")
        if r["path"].endswith("/sendMessage")
        and text in (None, (r["json"] or r["form"]).get("text"))
    ]


def taken(sandbox, text):
    """How many times the provider took a message with this text."""
    return sum(1 for r in sends(sandbox, text) if r["status"] == 200)


def taken_in_order(sandbox):
    return [(r["json"] or r["form"]).get("text") for r in sends(sandbox) if r["status"] == 200]
