"""Search from the top bar, and the dark theme that follows the system setting."""

import re

from playwright.sync_api import expect

from tests.browser.test_conversation_actions import visitor_session


def test_search_finds_a_customer_message_and_opens_it_in_its_thread(
    demo, live_app, page, sign_in, screenshot
):
    _users, widget = demo
    say = visitor_session(live_app, widget)
    say("The grinder makes a rattling noise since Tuesday.")
    say("Also, can I change my delivery address?")

    sign_in(page, "agent@example.com")
    search = page.get_by_role("searchbox", name="Search")
    page.keyboard.press("/")
    expect(search).to_be_focused()
    search.fill("rattling")
    search.press("Enter")
    hit = page.locator(".search-hit", has_text="rattling")
    expect(hit.locator("mark")).to_have_text("rattling")
    screenshot(page, "search-results")
    hit.get_by_role("link").first.click()
    expect(page.locator(".message.is-target")).to_contain_text("rattling noise")


def test_the_inbox_follows_a_dark_system_theme(demo, live_app, browser, sign_in, screenshot):
    context = browser.new_context(color_scheme="dark", viewport={"width": 1400, "height": 860})
    page = context.new_page()
    sign_in(page, "agent@example.com")
    page.locator("[data-view-key='all']").click()
    page.locator(".conv-row", has_text="Emma Clarke").get_by_role("link").click()
    expect(page.locator("#thread")).to_contain_text("Emma Clarke")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(n) for n in re.findall(r"\d+", background)[:3])
    assert red + green + blue < 200, background
    screenshot(page, "inbox-dark")
    context.close()
