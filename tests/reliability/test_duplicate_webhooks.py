"""A provider delivering the same webhook again and again makes one message."""

import pytest

from tests.reliability.helpers import bodies, lost_and_duplicated, post_at_once, whatsapp_delivery

pytestmark = pytest.mark.reliability

TEXT = "Only once, please"


def test_the_same_webhook_five_times_at_once_and_ten_minutes_later_makes_one_message(stack):
    url, body, headers = whatsapp_delivery(stack, "34600900001", TEXT)

    at_once = post_at_once(url, body, headers, 5)

    assert at_once == [200] * 5
    stack.wait_for("inbound_events", lambda c: c.get("processed") == 1)

    # Ten minutes later: the sweeper has run with the clock that far on, and the provider,
    # unsure we got it, delivers the very same signed bytes again, five times at once.
    assert stack.control("sweep_inbound", ahead=600) == 0
    later = post_at_once(url, body, headers, 5)

    assert later == [200] * 5
    assert stack.control("sweep_inbound", ahead=1200) == 0
    stack.wait_for("inbound_events", lambda c: c.get("pending", 0) == 0)
    assert stack.worker.idle()
    assert stack.control("inbound_events") == {"processed": 1, "total": 1}
    stored = stack.control("inbound", prefix=TEXT)
    assert lost_and_duplicated([TEXT], bodies(stored)) == {"lost": 0, "duplicated": 0}
