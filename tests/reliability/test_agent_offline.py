"""An agent's browser goes offline while 100 customer messages arrive: back online, its
screen shows all 100, in order, from the catch-up of the socket that reconnected.

Real Chromium (Debian's) through Playwright, in a thread of its own: Playwright's sync API
keeps an event loop in the thread it runs in, which must not be the test's.
"""

import threading

import pytest

from tests.browser.conftest import CHROMIUM_ARGS
from tests.reliability.helpers import bodies, lost_and_duplicated, post, whatsapp_delivery

pytestmark = pytest.mark.reliability

CUSTOMER = "34600900077"
TEXTS = [f"Flood {n:03}" for n in range(1, 101)]


def in_own_thread(function):
    outcome = {}

    def run():
        try:
            outcome["result"] = function()
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(180)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def test_an_agent_offline_while_100_messages_arrive_sees_all_100_in_order(stack):
    assert post(*whatsapp_delivery(stack, CUSTOMER, "Flood: first")) == 200
    [first] = stack.wait_for("inbound", prefix="Flood: first")
    conversation = first["conversation"]

    def scenario():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            context = browser.new_context(viewport={"width": 1400, "height": 860})
            page = context.new_page()
            page.goto(f"{stack.url}/accounts/login/")
            page.get_by_label("Email").fill("agent@example.com")
            page.get_by_label("Password").fill("switchboard")
            page.get_by_role("button", name="Sign In").click()
            page.wait_for_url(f"{stack.url}/")
            page.goto(f"{stack.url}/conversations/{conversation}/")
            page.locator("#connection-status[data-state='online']").wait_for()
            # htmx's backoff between reconnect attempts grows to a minute while offline;
            # what is checked here is the catch-up, so the page retries every half second.
            page.evaluate("htmx.config.wsReconnectDelay = () => 500")

            # Offline: the browser cannot open a connection, and the one it had is lost
            # (Chromium's offline mode leaves an open socket alone, so the server drops it).
            context.set_offline(True)
            stack.restart_web()
            page.locator("#connection-status[data-state='reconnecting']").wait_for(
                state="attached", timeout=15_000
            )
            for text in TEXTS:
                assert post(*whatsapp_delivery(stack, CUSTOMER, text)) == 200
            stack.wait_for("inbound", lambda found: len(found) == 100, timeout=60, prefix="Flood ")
            assert page.locator("#thread .message-body", has_text="Flood 001").count() == 0

            context.set_offline(False)
            page.locator("#connection-status[data-state='online']").wait_for(
                state="attached", timeout=30_000
            )
            page.wait_for_function(
                "n => document.querySelectorAll('#thread li.message').length >= n",
                arg=101,
                timeout=30_000,
            )
            shown = page.locator("#thread li.message .message-body").all_inner_texts()
            browser.close()
            return shown

    shown = [text.strip() for text in in_own_thread(scenario)]
    flood = [text for text in shown if text.startswith("Flood ")]
    assert flood == TEXTS
    stored = stack.control("inbound", prefix="Flood ")
    assert bodies(stored) == TEXTS
    assert lost_and_duplicated(TEXTS, flood) == {"lost": 0, "duplicated": 0}
