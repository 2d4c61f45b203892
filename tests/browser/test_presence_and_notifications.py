"""Presence, unread counts in the tab title, notifications, and the collision warning."""

import re
import time

from playwright.sync_api import expect

from contacts.models import ContactIdentity
from conversations import services
from conversations.models import Conversation
from tests.browser.test_conversation_actions import open_conversation, visitor_session

# Records every notification the page creates, then lets the browser show it as usual.
RECORD_NOTIFICATIONS = """
window.__notifications = [];
const RealNotification = window.Notification;
window.Notification = function (title, options) {
  window.__notifications.push({ title: title, body: (options || {}).body });
  return new RealNotification(title, options);
};
Object.defineProperty(window.Notification, "permission", {
  get: () => RealNotification.permission,
});
window.Notification.requestPermission = RealNotification.requestPermission.bind(RealNotification);
"""


def wait_until(check, timeout=10):
    # Polls from Python: the app's CSP forbids the eval that string predicates need.
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_an_agent_is_notified_of_new_messages_in_their_conversations_and_of_mentions(
    demo, live_app, browser, sign_in, in_thread
):
    users, widget = demo
    ana_context = browser.new_context(permissions=["notifications"])
    ana_context.add_init_script(RECORD_NOTIFICATIONS)
    ana = ana_context.new_page()
    say = visitor_session(live_app, widget)
    say("Hello, is anyone there?")
    conversation = Conversation.objects.get(last_message__body="Hello, is anyone there?")
    in_thread(
        services.assign_conversation,
        users["admin@example.com"],
        conversation,
        users["agent@example.com"],
    )
    in_thread(services.mark_conversation_read, users["agent@example.com"], conversation)

    sign_in(ana, "agent@example.com")
    ana.goto(f"{live_app.url}/?view=mine")
    unread_before = int(re.match(r"^\((\d+)\) ", ana.title()).group(1))
    say("I need help with my order, please.")
    # Polled from here: the page's CSP forbids the eval a string predicate would need.
    wait_until(lambda: ana.evaluate("window.__notifications.length > 0"))
    note = ana.evaluate("window.__notifications[0]")
    assert note["body"] == "I need help with my order, please."
    expect(ana.locator(f"#conversation-{conversation.pk}")).to_have_class(re.compile("is-unread"))
    expect(ana).to_have_title(re.compile(rf"^\({unread_before + 1}\) "))

    in_thread(
        services.add_note,
        users["supervisor@example.com"],
        conversation,
        "@Ana Agent please call them back",
        [users["agent@example.com"]],
    )
    wait_until(
        lambda: any("mentioned you" in n["title"] for n in ana.evaluate("window.__notifications"))
    )
    ana_context.close()


def test_presence_and_the_replying_warning_are_live_for_colleagues(
    demo, live_app, page, context, sign_in, screenshot
):
    users, widget = demo
    ana = page
    sign_in(ana, "agent@example.com")
    open_conversation(ana, "Emma Clarke")
    luis = context.browser.new_context().new_page()
    sign_in(luis, "supervisor@example.com")
    open_conversation(luis, "Emma Clarke")

    ana_dot = luis.locator(f".conv-row [data-presence-user='{users['agent@example.com'].pk}']")
    expect(ana_dot.first).to_have_class(re.compile("presence-online"))
    ana.locator(".user-menu summary").click()
    ana.get_by_label("Availability").select_option("away")
    expect(ana_dot.first).to_have_class(re.compile("presence-away"))

    expect(ana.locator(".viewers")).to_contain_text("Luis Supervisor")
    ana.get_by_role("textbox", name="Reply").type("Let me check that for you")
    expect(luis.locator(".viewers.is-warning")).to_contain_text("Ana Agent")
    screenshot(luis, "colleague-replying-warning")
    assert ContactIdentity.objects.exists()
