"""Actions on a conversation show up live in every window that has it open."""

import httpx
from playwright.sync_api import expect

from conversations.models import Conversation


def visitor_session(live_app, widget):
    client = httpx.Client(base_url=live_app.url, headers={"Origin": live_app.url}, timeout=10)
    token = client.post(f"/widget/{widget.public_token}/sessions/", json={}).json()["token"]

    def say(text):
        response = client.post(
            f"/widget/{widget.public_token}/messages/",
            data={"body": text},
            headers={"X-Visitor-Token": token},
        )
        assert response.status_code == 200

    return say


def open_conversation(page, text):
    page.locator("[data-view-key='all']").click()
    page.locator(".conv-row", has_text=text).get_by_role("link").click()
    expect(page.locator("#thread")).to_contain_text(text)


def test_assign_resolve_and_reopen_are_live_in_a_second_agents_window(
    demo, live_app, page, context, sign_in, screenshot
):
    _users, widget = demo
    say = visitor_session(live_app, widget)
    say("My espresso machine leaks from the group head.")

    ana = page
    sign_in(ana, "agent@example.com")
    open_conversation(ana, "leaks from the group head")
    # Luis works in Spanish: his window is checked by structure, not by English words.
    luis = context.browser.new_context(viewport={"width": 1400, "height": 860}).new_page()
    sign_in(luis, "supervisor@example.com")
    open_conversation(luis, "leaks from the group head")
    luis_thread = luis.locator("#thread ol.messages")

    ana_thread = ana.get_by_role("list", name="Messages")
    ana_id = str(_users["agent@example.com"].pk)

    ana.get_by_label("Assignee").select_option(label="Ana Agent")
    expect(ana_thread).to_contain_text("Ana Agent took the conversation")
    expect(luis.locator(".thread-header select[name='assignee']")).to_have_value(ana_id)
    expect(luis_thread.locator(".activity-assignee")).to_contain_text("Ana Agent")

    ana.get_by_role("button", name="Resolve").click()
    expect(ana_thread).to_contain_text("Resolved by Ana Agent")
    expect(luis.locator(".thread-header .status-pill.status-resolved")).to_be_visible()
    expect(luis_thread.locator(".activity-status")).to_contain_text("Ana Agent")
    expect(luis.locator(".conv-row", has_text="leaks from the group head")).to_have_count(0)
    expect(luis.locator(".thread-header button[name='status'][value='open']")).to_be_visible()

    say("Sorry, it started leaking again.")
    expect(ana_thread).to_contain_text("Reopened by a customer message")
    for window in (ana, luis):
        thread = window.locator("#thread ol.messages")
        expect(thread.locator(".activity-status")).to_have_count(2)
        expect(thread).to_contain_text("Sorry, it started leaking again.")
        expect(window.locator(".thread-header .status-pill.status-open")).to_be_visible()
    expect(luis.locator(".conv-row", has_text="started leaking again")).to_be_visible()
    screenshot(luis, "second-window-after-reopen")


def test_contact_edits_are_live_for_colleagues_and_recorded(demo, live_app, page, context, sign_in):
    from contacts.models import ContactChange, ContactNote

    sign_in(page, "agent@example.com")
    open_conversation(page, "Javier Morales")
    luis = context.browser.new_context().new_page()
    sign_in(luis, "supervisor@example.com")
    open_conversation(luis, "Javier Morales")

    panel = page.get_by_role("complementary", name="Contact")
    email = panel.get_by_label("E-mail")
    email.fill("not an address")
    email.press("Tab")
    expect(panel.get_by_role("alert")).to_contain_text("is not an e-mail address")
    panel.get_by_label("E-mail").fill("javier@morales.example")
    panel.get_by_label("E-mail").press("Tab")
    expect(luis.locator(".contact-panel input[type='email']")).to_have_value(
        "javier@morales.example"
    )

    panel.get_by_label("Attribute name").fill("plan")
    panel.get_by_label("Attribute value").fill("Subscription, 1 kg a month")
    panel.get_by_role("button", name="Add attribute").click()
    expect(luis.locator(".contact-panel")).to_contain_text("plan")

    panel.get_by_label("Note about this contact").fill("Prefers decaf.")
    panel.get_by_role("button", name="Save note").click()
    expect(luis.locator(".contact-notes")).to_contain_text("Prefers decaf.")
    assert ContactNote.objects.get().body == "Prefers decaf."

    panel.get_by_label("Label to add to this contact").select_option(label="vip")
    panel.get_by_role("button", name="Add label").click()
    expect(luis.locator(".contact-labels .label-chip")).to_contain_text(["vip"])
    # From the keyboard: the chip's remove button is reachable and says what it removes.
    panel.get_by_role("button", name="Remove the label vip").focus()
    page.keyboard.press("Enter")
    expect(luis.locator(".contact-labels .label-chip")).to_have_count(0)
    expect(panel.get_by_role("button", name="Remove the label vip")).to_have_count(0)
    assert {c.field for c in ContactChange.objects.all()} == {"email", "plan", "labels"}


def test_bulk_actions_assign_and_resolve_the_selected_conversations(demo, live_app, page, sign_in):
    sign_in(page, "agent@example.com")
    page.goto(f"{live_app.url}/?view=unassigned")
    for name in ("Javier Morales", "Noah Patel"):
        page.get_by_role("checkbox", name=f"Select the conversation with {name}").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.get_by_label("Assign selected to").select_option(label="Ana Agent")
    page.get_by_label("Set status of selected").select_option("resolved")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status").filter(has_text="Updated 2 conversations.")).to_be_visible()
    expect(page.locator(".conv-row", has_text="Javier Morales")).to_have_count(0)
    resolved = Conversation.objects.filter(contact__name__in=["Javier Morales", "Noah Patel"])
    assert {(c.status, c.assignee.email) for c in resolved} == {("resolved", "agent@example.com")}
