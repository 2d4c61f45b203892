"""The conversation list holds still under the agent's eyes while rows arrive above them."""

import re
import time

from playwright.sync_api import expect

from contacts.services import get_or_create_identity
from conversations import services
from tests.browser.test_conversation_actions import visitor_session

# What the agent sees: the first row in view, how far it sits from the list's top edge,
# where the list is scrolled, and which row is selected.
VIEWPORT = """() => {
  const list = document.getElementById("conversation-list");
  const top = list.getBoundingClientRect().top;
  const first = [...list.querySelectorAll(".conv-row")]
    .find((row) => row.getBoundingClientRect().bottom > top + 1);
  const selected = list.querySelector(".conv-row.is-selected");
  return {
    first: first.id,
    offset: Math.round(first.getBoundingClientRect().top - top),
    scrollTop: list.scrollTop,
    selected: selected ? selected.id : null,
    current: [...list.querySelectorAll(".conv-link[aria-current='true']")]
      .map((link) => link.closest(".conv-row").id),
  };
}"""


# Counts the live swaps the page applies, so a test can wait for the catch-up on connect
# (which replays the last few seconds of events, here the arranged conversations) to end.
COUNT_SWAPS = """
window.__swaps = 0;
document.addEventListener("htmx:oobAfterSwap", () => { window.__swaps += 1; });
"""


def wait_until_quiet(page, quiet_for=1.5, timeout=15):
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() - since < quiet_for:
        assert time.monotonic() < deadline, "the list never stopped changing"
        swaps = page.evaluate("() => window.__swaps")
        if swaps != last:
            last, since = swaps, time.monotonic()
        time.sleep(0.1)


def open_all_conversations(page, live_app):
    page.add_init_script(COUNT_SWAPS)
    page.goto(f"{live_app.url}/?view=all")
    expect(page.locator("#conversation-list .conv-row").first).to_be_visible()
    wait_until_quiet(page)


def many_conversations(inbox, count):
    for n in range(count):
        identity, _ = get_or_create_identity(
            inbox, f"visitor:scroll-{n}", name=f"Scroll Customer {n:02}"
        )
        services.record_inbound_message(inbox, identity, body=f"Question number {n:02} about beans")


def test_rows_arriving_above_the_viewport_leave_the_visible_rows_and_selection_in_place(
    demo, live_app, page, sign_in, in_thread, screenshot
):
    _users, widget = demo
    in_thread(many_conversations, widget, 30)
    sign_in(page, "agent@example.com")
    open_all_conversations(page, live_app)
    rows = page.locator("#conversation-list .conv-row")
    before_count = rows.count()

    # Open a conversation halfway down, then scroll so it stays in view but the top is not.
    chosen = page.locator(".conv-row", has_text="Question number 10 about beans")
    chosen.get_by_role("link").click()
    expect(page.locator("#thread")).to_contain_text("Question number 10 about beans")
    chosen_id = chosen.get_attribute("id")
    expect(chosen).to_have_class(re.compile(r"\bis-selected\b"))
    page.locator("#conversation-list").evaluate(
        """(list) => {
          const row = list.querySelector('.conv-row.is-selected');
          list.scrollTop = row.offsetTop - list.offsetTop - 120;
        }"""
    )
    seen = page.evaluate(VIEWPORT)
    assert seen["scrollTop"] > 0
    assert seen["selected"] == chosen_id

    # Three new customers write, and an existing conversation further down gets a message
    # and moves to the top: four rows land above what the agent is reading.
    for n in range(3):
        visitor_session(live_app, widget)(f"New arrival {n} while you read")
    in_thread(
        lambda: services.record_inbound_message(
            widget,
            get_or_create_identity(widget, "visitor:scroll-3")[0],
            body="Customer 03 writes again",
        )
    )
    expect(rows).to_have_count(before_count + 3)
    expect(rows.first).to_contain_text("Customer 03 writes again")

    after = page.evaluate(VIEWPORT)
    assert after["first"] == seen["first"]
    assert abs(after["offset"] - seen["offset"]) <= 1
    assert after["scrollTop"] > seen["scrollTop"]
    assert after["selected"] == chosen_id
    assert after["current"] == [chosen_id]
    expect(page.locator("#thread")).to_contain_text("Question number 10 about beans")
    screenshot(page, "list-kept-in-place")


def test_at_the_top_of_the_list_new_conversations_come_into_view(
    demo, live_app, page, sign_in, in_thread
):
    _users, widget = demo
    in_thread(many_conversations, widget, 30)
    sign_in(page, "agent@example.com")
    open_all_conversations(page, live_app)
    assert page.evaluate(VIEWPORT)["scrollTop"] == 0

    visitor_session(live_app, widget)("Hello from the newest customer")

    newest = page.locator(".conv-row", has_text="Hello from the newest customer")
    expect(newest).to_be_visible()
    after = page.evaluate(VIEWPORT)
    assert after["scrollTop"] == 0
    assert after["first"] == newest.get_attribute("id")
