"""Redis dies while customers write and agents watch: nothing accepted is lost.

Webhooks are stored in PostgreSQL and answered 200 without Redis (or answered 5xx, and the
provider sends them again); the sweeper enqueues what was stored once Redis is back; the
agents' sockets reconnect and catch up from the LiveEvent table with every message.
"""

import pytest

from tests.reliability.agents import AgentSocket
from tests.reliability.helpers import bodies, lost_and_duplicated, post, whatsapp_delivery

pytestmark = pytest.mark.reliability

ALICE, BORIS, CLARA = "34600900011", "34600900012", "34600900013"
DURING = [
    (ALICE, "Outage: where is my order?"),
    (ALICE, "Outage: it was due yesterday"),
    (BORIS, "Outage: can I change my address?"),
    (ALICE, "Outage: hello??"),
    (CLARA, "Outage: do you ship to Lisbon?"),
]
# The sweeper's grace for a stored delivery not yet applied (inbox.sweepers.INBOUND_GRACE).
PAST_THE_GRACE = 31


def test_a_redis_outage_loses_no_webhook_and_agents_catch_up_on_every_message(stack):
    url, body, headers = whatsapp_delivery(stack, ALICE, "Outage: before")
    assert post(url, body, headers) == 200
    [before] = stack.wait_for("inbound", prefix="Outage: before")
    watching = AgentSocket(stack, "agent@example.com", conversation=before["conversation"])
    overseeing = AgentSocket(stack, "supervisor@example.com")
    assert watching.connect()
    assert overseeing.connect()

    stack.redis.kill()
    watching.wait_until_dropped()
    overseeing.wait_until_dropped()
    deliveries = [whatsapp_delivery(stack, customer, text) for customer, text in DURING]
    answers = [post(*delivery) for delivery in deliveries]

    assert all(a == 200 or (isinstance(a, int) and a >= 500) for a in answers), answers
    stored_during = answers.count(200)
    assert stack.control("inbound_events").get("pending", 0) == stored_during
    assert stack.control("inbound", prefix="Outage: ") == [before]

    stack.redis.start()
    # The provider retries what was not answered 200; beat runs the sweeper later on.
    retried = [post(*d) for d, a in zip(deliveries, answers, strict=True) if a != 200]
    assert retried == [200] * len(retried)
    assert stack.control("sweep_inbound", ahead=PAST_THE_GRACE) >= stored_during
    stack.wait_for("inbound_events", lambda c: c.get("processed") == 1 + len(DURING))
    stored = stack.control("inbound", prefix="Outage: ")
    assert lost_and_duplicated(
        ["Outage: before"] + [text for _, text in DURING], bodies(stored)
    ) == {"lost": 0, "duplicated": 0}

    # Their sockets were closed when the channel layer failed, so the pages reconnect with
    # the last event they applied and are sent every message they missed: the thread on
    # screen gets each of Alice's messages, the conversation list a row for every customer.
    for agent in (watching, overseeing):
        agent.reconnect()
    alice = [text for customer, text in DURING if customer == ALICE]
    others = [text for customer, text in DURING if customer != ALICE]
    watching.wait_for_frames(lambda frames: all(any(t in f for f in frames) for t in alice))
    overseeing.wait_for_frames(lambda frames: all(any(t in f for f in frames) for t in others))
    thread = "".join(watching.frames(part="thread"))
    rows = "".join(overseeing.frames(part="list"))
    missed = [t for t in alice if t not in thread] + [t for t in others if t not in rows]
    assert {"lost": len(missed), "duplicated": 0} == {"lost": 0, "duplicated": 0}
    for agent in (watching, overseeing):
        agent.close()
