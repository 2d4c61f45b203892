"""PostgreSQL restarted while customers write in: 503 while it is down, nothing half-written,
everything stored once the provider has sent again what was not answered 200."""

import threading
import time

import pytest

from tests.reliability.helpers import bodies, lost_and_duplicated, post, whatsapp_delivery

pytestmark = pytest.mark.reliability

PAST_THE_GRACE = 31


def deliver_until_taken(delivery, attempts=10):
    """The provider's retries: send again (after a pause) until answered 200."""
    answers = []
    for _ in range(attempts):
        answers.append(post(*delivery))
        if answers[-1] == 200:
            break
        time.sleep(0.5)
    return answers


def test_a_postgres_restart_during_traffic_stores_everything_once(stack, postgres_cluster):
    texts = [f"Restart: message {n:02}" for n in range(12)]
    deliveries = [whatsapp_delivery(stack, f"3460090{n:04}", text) for n, text in enumerate(texts)]
    before, while_down, after = deliveries[:4], deliveries[4:8], deliveries[8:]

    assert [post(*d) for d in before] == [200] * 4
    # Stopped while the worker is still applying those (its transactions are cut short).
    postgres_cluster.stop("fast")
    answers = [None] * len(while_down)

    def send(i, delivery):
        answers[i] = post(*delivery)

    threads = [threading.Thread(target=send, args=item) for item in enumerate(while_down)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [503] * len(while_down)

    postgres_cluster.start()
    retries = [deliver_until_taken(d) for d in after + while_down]
    assert all(r[-1] == 200 for r in retries), retries
    assert all(a == 200 or a == 503 for r in retries for a in r), retries

    # Beat's sweeper enqueues whatever was stored but never applied.
    stack.control("sweep_inbound", ahead=PAST_THE_GRACE)
    events = stack.wait_for(
        "inbound_events", lambda c: c.get("pending", 0) == 0 and c["total"] == len(texts)
    )
    # Nothing half-written: every delivery is one event, applied whole, none failed.
    assert events == {"processed": len(texts), "total": len(texts)}, stack.control("failed_events")
    stored = stack.control("inbound", prefix="Restart: ")
    assert sorted(bodies(stored)) == texts
    assert lost_and_duplicated(texts, bodies(stored)) == {"lost": 0, "duplicated": 0}
