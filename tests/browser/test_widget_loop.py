"""A website visitor and an agent talk live, across two sites, with history kept."""

import re
import time

from playwright.sync_api import expect

from conversations.models import Conversation
from inbox.models import Inbox, InboxKind

XSS_SCRIPT = "<script>window.__xss = 1</script>"
XSS_IMG = '<img src=x onerror="window.__xss = 1">'


def open_widget(page, live_app):
    # The demo page is opened on localhost, the widget comes from 127.0.0.1: two sites,
    # as for a customer's website embedding Switchboard.
    page.goto(live_app.url.replace("127.0.0.1", "localhost") + "/widget/demo/")
    page.get_by_role("button", name="Chat with us").click()
    frame = page.frame_locator("iframe[title='Chat']")
    expect(frame.locator("#connection-status")).to_have_attribute("data-state", "online")
    return frame


def visitor_says(frame, text):
    box = frame.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text(text)


def test_visitor_and_agent_talk_live_and_history_survives_a_reload(
    demo, live_app, page, context, sign_in, screenshot, console_problems
):
    agent_page = page
    console_problems(agent_page)
    sign_in(agent_page, "agent@example.com")
    agent_page.get_by_role("link", name=re.compile("^All")).click()
    agent_page.evaluate("window.__stillTheSamePage = true")

    visitor_page = context.browser.new_context().new_page()
    console_problems(visitor_page)
    frame = open_widget(visitor_page, live_app)
    visitor_says(frame, "Hi! Do you ship whole-bean coffee to Lisbon?")

    row = agent_page.locator(".conv-row", has_text="Do you ship whole-bean coffee to Lisbon?")
    expect(row).to_be_visible()
    assert agent_page.evaluate("window.__stillTheSamePage") is True, "the inbox reloaded"
    row.get_by_role("link").click()
    thread = agent_page.get_by_role("list", name="Messages")
    expect(thread).to_contain_text("Do you ship whole-bean coffee to Lisbon?")

    visitor_says(frame, "We're opening a café there.")
    expect(thread).to_contain_text("We're opening a café there.")

    reply = agent_page.get_by_role("textbox", name="Reply")
    reply.fill("Yes, we ship to Portugal in 2-3 days.")
    reply.press("Enter")
    expect(thread).to_contain_text("Yes, we ship to Portugal in 2-3 days.")
    expect(reply).to_have_value("")
    widget_messages = frame.get_by_role("list", name="Messages")
    expect(widget_messages).to_contain_text("Yes, we ship to Portugal in 2-3 days.")
    # The visitor saw it, so the agent's tick turns to read, live.
    expect(thread.locator(".message-outbound").last.locator(".delivery")).to_have_class(
        re.compile("delivery-read")
    )
    screenshot(agent_page, "inbox-thread")
    screenshot(visitor_page, "widget-conversation")

    visitor_page.reload()
    frame = open_widget(visitor_page, live_app)
    widget_messages = frame.get_by_role("list", name="Messages")
    expect(widget_messages).to_contain_text("Do you ship whole-bean coffee to Lisbon?")
    expect(widget_messages).to_contain_text("Yes, we ship to Portugal in 2-3 days.")
    assert (
        Conversation.objects.filter(contact__identities__external_id__startswith="visitor:").count()
        == 13
    )
    assert console_problems.problems == []


def test_a_closed_window_keeps_history_for_the_next_visit(demo, live_app, browser):
    visit = browser.new_context()
    frame = open_widget(visit.new_page(), live_app)
    visitor_says(frame, "Is the grinder back in stock?")
    storage = visit.storage_state()
    visit.close()

    next_visit = browser.new_context(storage_state=storage)
    frame = open_widget(next_visit.new_page(), live_app)
    expect(frame.get_by_role("list", name="Messages")).to_contain_text(
        "Is the grinder back in stock?"
    )
    next_visit.close()


def test_agent_cannot_open_a_conversation_of_an_inbox_they_are_not_in(
    demo, live_app, page, sign_in
):
    other = Inbox.objects.create(name="Wholesale chat", kind=InboxKind.WEB_WIDGET)
    users, widget = demo
    conversation = Conversation.objects.filter(inbox=widget).first()
    sign_in(page, "agent2@example.com")  # Marco works in Italian
    expect(page.get_by_role("list", name=re.compile("Conversazioni"))).not_to_contain_text(
        conversation.contact.display_name
    )
    response = page.goto(f"{live_app.url}/conversations/{conversation.pk}/")
    assert response.status == 404
    assert conversation.contact.display_name not in page.content()
    assert other.pk


def test_customer_markup_is_shown_as_text_and_never_runs(
    demo, live_app, page, context, sign_in, screenshot, console_problems
):
    dialogs = []
    sign_in(page, "agent@example.com")
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("link", name=re.compile("^All")).click()

    visitor_page = context.browser.new_context().new_page()
    visitor_page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    frame = open_widget(visitor_page, live_app)
    visitor_says(frame, XSS_SCRIPT)
    visitor_says(frame, XSS_IMG)

    row = page.locator(".conv-row", has_text="window.__xss")
    expect(row).to_be_visible()
    row.get_by_role("link").click()
    thread = page.get_by_role("list", name="Messages")
    expect(thread).to_contain_text(XSS_SCRIPT)
    expect(thread).to_contain_text(XSS_IMG)
    page.reload()
    expect(page.get_by_role("list", name="Messages")).to_contain_text(XSS_IMG)
    time.sleep(0.5)
    assert page.evaluate("window.__xss") is None
    assert visitor_page.frames[1].evaluate("window.__xss") is None
    assert dialogs == []
    screenshot(page, "customer-markup-as-text")


def test_the_content_security_policy_blocks_nothing_the_app_needs(
    demo, live_app, page, sign_in, console_problems
):
    console_problems(page)
    page.goto(f"{live_app.url}/accounts/login/")
    sign_in(page, "admin@example.com")
    page.get_by_role("link", name=re.compile("^All")).click()
    page.locator(".conv-row").first.get_by_role("link").click()
    expect(page.get_by_role("textbox", name="Reply")).to_be_visible()
    page.goto(f"{live_app.url}/accounts/2fa/")
    page.goto(f"{live_app.url}/admin/")
    visitor = page.context.browser.new_context().new_page()
    console_problems(visitor)
    open_widget(visitor, live_app)
    csp = [p for p in console_problems.problems if "Content Security Policy" in p]
    assert csp == []
    assert console_problems.problems == []


def test_an_agent_whose_socket_drops_catches_up_on_everything_missed(
    demo, live_app, page, context, sign_in
):
    """Frames sent while the socket is down are lost; catch-up on reconnect restores them."""
    sockets = []
    dropping = {"on": False}

    def route(ws):
        server = ws.connect_to_server()
        sockets.append(ws)
        server.on_message(lambda message: None if dropping["on"] else ws.send(message))
        ws.on_message(lambda message: server.send(message))

    page.route_web_socket(re.compile(r"/ws/agent/$"), route)
    sign_in(page, "agent@example.com")
    page.get_by_role("link", name=re.compile("^All")).click()

    visitor_page = context.browser.new_context().new_page()
    frame = open_widget(visitor_page, live_app)
    visitor_says(frame, "Message 0 before the drop")
    expect(page.locator(".conv-row", has_text="Message 0 before the drop")).to_be_visible()
    page.locator(".conv-row", has_text="Message 0").get_by_role("link").click()
    thread = page.get_by_role("list", name="Messages")
    # The thread pane has loaded before the drop: a pane still loading would bring the
    # later messages over HTTP, not the socket this is about.
    expect(thread).to_contain_text("Message 0 before the drop")

    dropping["on"] = True
    for n in range(1, 6):
        visitor_says(frame, f"Message {n} while the agent is offline")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "online")
    assert "Message 1 while" not in thread.inner_text()
    # The network drops: the server's frames never arrived and the socket closes.
    sockets[-1].close(code=1012, reason="dropped")
    dropping["on"] = False
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "online")
    for n in range(1, 6):
        expect(thread).to_contain_text(f"Message {n} while the agent is offline")
    texts = thread.locator(".message-body").all_inner_texts()
    mine = [t for t in texts if t.startswith("Message ")]
    assert mine == ["Message 0 before the drop"] + [
        f"Message {n} while the agent is offline" for n in range(1, 6)
    ]
    assert len(sockets) >= 2
