"""The composer's private notes and mentions, and working from the keyboard alone."""

from playwright.sync_api import expect

from conversations.models import Mention, Message, MessageKind
from tests.browser.test_widget_loop import open_widget, visitor_says


def test_a_private_note_with_a_mention_never_reaches_the_visitor(
    demo, live_app, page, context, sign_in, screenshot
):
    users, _widget = demo
    visitor_page = context.browser.new_context().new_page()
    frame = open_widget(visitor_page, live_app)
    visitor_says(frame, "Can I get a refund for the broken grinder?")

    sign_in(page, "agent@example.com")
    page.locator("[data-view-key='all']").click()
    page.locator(".conv-row", has_text="refund for the broken grinder").get_by_role("link").click()
    thread = page.get_by_role("list", name="Messages")
    expect(thread).to_contain_text("refund for the broken grinder")

    page.keyboard.press("Escape")
    page.keyboard.press("n")
    note = page.get_by_role("textbox", name="Private note")
    expect(note).to_be_focused()
    note.type("Checking with @Lu")
    picker = page.get_by_role("listbox", name="Mention a colleague")
    expect(picker.get_by_role("option")).to_have_text(["Luis Supervisor"])
    note.press("Enter")
    note.type("is a refund fine here?")
    note.type("@Mar")
    expect(picker.get_by_role("option")).to_have_count(0)  # Marco cannot see this inbox
    note.fill("Checking with @Luis Supervisor is a refund fine here?")
    note.press("Enter")

    expect(thread.locator(".message-note")).to_contain_text("is a refund fine here?")
    expect(thread.locator(".message-note")).to_contain_text("Private note")
    stored = Message.objects.get(kind=MessageKind.NOTE)
    assert list(Mention.objects.filter(message=stored).values_list("user__email", flat=True)) == [
        "supervisor@example.com"
    ]

    page.get_by_label("Reply", exact=True).check()
    reply = page.get_by_role("textbox", name="Reply")
    reply.fill("We'll send a replacement today.")
    reply.press("Enter")
    widget_messages = frame.get_by_role("list", name="Messages")
    expect(widget_messages).to_contain_text("We'll send a replacement today.")
    expect(widget_messages).not_to_contain_text("refund fine here")
    screenshot(page, "thread-with-note")

    visitor_page.reload()
    frame = open_widget(visitor_page, live_app)
    widget_messages = frame.get_by_role("list", name="Messages")
    expect(widget_messages).to_contain_text("We'll send a replacement today.")
    expect(widget_messages).not_to_contain_text("refund fine here")
    assert "Checking with" not in visitor_page.frames[1].content()


def test_an_agent_walks_three_conversations_with_the_keyboard_alone(demo, live_app, page, sign_in):
    _users, widget = demo
    sign_in(page, "agent@example.com")
    page.goto(f"{live_app.url}/?view=all")
    names = page.locator(".conv-row .conv-name").all_inner_texts()[:3]
    heading = page.locator(".thread-header h2")

    page.keyboard.press("j")
    expect(heading).to_have_text(names[0])
    page.keyboard.press("j")
    expect(heading).to_have_text(names[1])
    page.keyboard.press("j")
    expect(heading).to_have_text(names[2])
    page.keyboard.press("k")
    expect(heading).to_have_text(names[1])

    page.keyboard.press("r")
    reply = page.get_by_role("textbox", name="Reply")
    expect(reply).to_be_focused()
    page.keyboard.type("Thanks for waiting, looking into it now.")
    page.keyboard.press("Enter")
    expect(page.get_by_role("list", name="Messages")).to_contain_text(
        "Thanks for waiting, looking into it now."
    )
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    expect(page.locator(".thread-header .status-pill.status-resolved")).to_be_visible()

    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    assert widget.pk


def test_canned_responses_are_saved_from_the_composer_and_inserted_with_slash(
    demo, live_app, page, sign_in
):
    from conversations.models import CannedResponse

    CannedResponse.objects.create(
        shortcut="shipping-times",
        title="Shipping times",
        body=(
            "Hi {{contact.first_name}}, orders leave our roastery within 24 hours."
            " — {{agent.first_name}}"
        ),
    )
    sign_in(page, "agent@example.com")
    page.goto(f"{live_app.url}/?view=all")
    page.locator(".conv-row", has_text="Javier Morales").get_by_role("link").click()
    reply = page.get_by_role("textbox", name="Reply")
    reply.type("/ship")
    options = page.get_by_role("listbox", name="Canned responses").get_by_role("option")
    expect(options).to_have_text(["/shipping-times — Shipping times"])
    reply.press("Enter")
    expect(reply).to_have_value("Hi Javier, orders leave our roastery within 24 hours. — Ana")

    reply.fill("Our café opens at 8:00 on weekdays.")
    page.get_by_text("Save as canned response").click()
    page.get_by_role("textbox", name="Shortcut").fill("opening-hours")
    page.get_by_role("textbox", name="Title").fill("Opening hours")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved as /opening-hours.")).to_be_visible()
    mine = CannedResponse.objects.get(shortcut="opening-hours")
    assert mine.owner.email == "agent@example.com"
    reply = page.get_by_role("textbox", name="Reply")
    reply.fill("/open")
    expect(page.get_by_role("listbox", name="Canned responses").get_by_role("option")).to_have_text(
        ["/opening-hours — Opening hours"]
    )


def test_a_slow_answer_for_a_conversation_the_agent_left_does_not_replace_the_one_they_opened(
    demo, live_app, page, sign_in
):
    sign_in(page, "agent@example.com")
    page.goto(f"{live_app.url}/?view=all")
    first = page.locator(".conv-row", has_text="Emma Clarke")
    first_url = first.get_by_role("link").get_attribute("href")
    held = []
    page.route(f"**{first_url}", lambda route: held.append(route))  # held, not answered yet
    page.evaluate(
        "window.answered = [];"
        "document.addEventListener('htmx:afterRequest',"
        " (event) => window.answered.push(event.detail.pathInfo.requestPath))"
    )

    first.get_by_role("link").click()
    page.locator(".conv-row", has_text="Javier Morales").get_by_role("link").click()
    heading = page.locator(".thread-header h2")
    expect(heading).to_have_text("Javier Morales")
    assert len(held) == 1
    held[0].continue_()  # Emma's answer arrives last, and is handled
    page.wait_for_function(f"() => window.answered.includes({first_url!r})")

    expect(heading).to_have_text("Javier Morales")
