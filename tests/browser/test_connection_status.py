"""The status pill in the top bar says what the live connection is doing: "Live", or
"Reconnecting…" while the network is away, or, once the agent's session has ended, that
they must sign in again (the server refuses their socket for good, which the browser
cannot tell from a network drop). And a page whose live updates were lost reloads its list
and catches its open thread up."""

import json
from unittest import mock
from urllib.parse import quote, urlsplit

from channels.layers import get_channel_layer
from django.template.loader import render_to_string
from playwright.sync_api import expect

from channels_app.access import sockets_rejoin
from channels_app.groups import user_group
from channels_app.layer_sender import send_to_groups
from contacts.services import get_or_create_identity
from conversations import services
from conversations.models import Conversation
from tests.browser.test_conversation_actions import open_conversation

SIGNED_OUT = "You were signed out. Sign in again to keep receiving messages."


def status(page):
    return page.locator("#connection-status")


def deactivate(user):
    user.is_active = False
    user.save(update_fields=["is_active"])


def current_page(page):
    url = urlsplit(page.url)
    return url.path + (f"?{url.query}" if url.query else "")


def test_an_agent_deactivated_with_the_workspace_open_is_told_to_sign_in_again(
    demo, live_app, page, sign_in, screenshot, in_thread
):
    users, _widget = demo
    sign_in(page, "agent@example.com")
    open_conversation(page, "Emma Clarke")
    expect(status(page)).to_have_text("Live")

    # Deactivating an account closes its sockets, and the server refuses them from then on.
    in_thread(deactivate, users["agent@example.com"])

    expect(status(page)).to_have_attribute("data-state", "signed-out")
    expect(status(page)).to_have_text(SIGNED_OUT)
    link = status(page).get_by_role("link", name="Sign in again")
    expect(link).to_have_attribute(
        "href", f"/accounts/login/?next={quote(current_page(page), safe='')}"
    )
    screenshot(page, "signed-out-status")
    # It stays so: the page no longer tries to reconnect.
    page.wait_for_timeout(1500)
    expect(status(page)).to_have_text(SIGNED_OUT)
    expect(page.locator("[ws-connect]")).to_have_count(0)


def test_signed_out_in_another_tab_the_link_signs_the_agent_in_again_on_the_same_page(
    demo, live_app, page, context, sign_in, in_thread
):
    users, _widget = demo
    sign_in(page, "agent@example.com")
    open_conversation(page, "Emma Clarke")
    conversation_page = current_page(page)
    other_tab = context.new_page()
    other_tab.goto(f"{live_app.url}/")
    other_tab.get_by_label("Account menu").click()
    other_tab.get_by_role("button", name="Sign out").click()
    other_tab.get_by_label("Email").wait_for()

    # The open socket outlives the session until it drops (a deploy, say).
    in_thread(sockets_rejoin, [users["agent@example.com"].pk])

    expect(status(page)).to_have_text(SIGNED_OUT)
    status(page).get_by_role("link", name="Sign in again").click()
    page.get_by_label("Email").fill("agent@example.com")
    page.get_by_label("Password").fill("switchboard")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_app.url}{conversation_page}")
    expect(status(page)).to_have_text("Live")
    expect(page.locator("#thread")).to_contain_text("Emma Clarke")


def test_a_network_drop_still_shows_reconnecting_and_comes_back_live(
    demo, live_app, page, context, sign_in, in_thread
):
    users, _widget = demo
    sign_in(page, "agent@example.com")
    # htmx's backoff between attempts grows to a minute; here the page retries every 500 ms.
    page.evaluate("htmx.config.wsReconnectDelay = () => 500")

    # Offline, the browser cannot connect again, and the socket it had is dropped.
    context.set_offline(True)
    in_thread(sockets_rejoin, [users["agent@example.com"].pk])

    expect(status(page)).to_have_attribute("data-state", "reconnecting")
    # The page asks whether it is still signed in after each failed attempt, and cannot tell.
    for _attempt in range(2):
        page.wait_for_event("requestfailed", lambda request: "/me/session/" in request.url)
    expect(status(page)).to_have_text(
        "Reconnecting… new messages will appear when you are back online."
    )

    context.set_offline(False)
    expect(status(page)).to_have_text("Live")


def take_out_of_an_inbox(user):
    user.inboxes.order_by("pk").last().members.remove(user)


def test_taken_out_of_an_inbox_the_open_workspace_joins_again_at_once(
    demo, live_app, page, sign_in, in_thread
):
    users, _widget = demo
    sign_in(page, "agent@example.com")
    expect(status(page)).to_have_text("Live")
    page.evaluate(
        "window.opened = 0; document.addEventListener('htmx:wsOpen', () => window.opened++)"
    )

    # What the agent may see changed: the server closes the socket so the page joins the
    # groups the agent may see now.
    in_thread(take_out_of_an_inbox, users["agent@example.com"])

    page.wait_for_function("() => window.opened === 1", timeout=5000)
    expect(status(page)).to_have_text("Live")
    # It closed with a code a websocket server may send (daphne refuses others).
    assert "invalid close code" not in (live_app.logs / "web.log").read_text(errors="replace")


def a_customer_writes_and_the_update_is_lost(widget, name):
    """A new conversation whose live update never reaches any page."""
    with mock.patch("channels_app.events.broadcast_many"):
        identity, _ = get_or_create_identity(widget, f"visitor:{name}", name=name)
        services.record_inbound_message(widget, identity, body="Is anyone there?")


def the_server_dropped_updates_for(user):
    send_to_groups(get_channel_layer(), [(user_group(user.pk), {"type": "live.missed"})])


def test_told_that_updates_were_lost_the_workspace_reloads_its_list_at_most_every_few_seconds(
    demo, live_app, page, sign_in, in_thread
):
    users, widget = demo
    agent = users["agent@example.com"]
    sign_in(page, "agent@example.com")
    page.goto(f"{live_app.url}/?view=all")
    expect(status(page)).to_have_text("Live")
    in_thread(a_customer_writes_and_the_update_is_lost, widget, "Lost Update")
    page.wait_for_timeout(500)
    expect(page.locator("#conversation-list")).not_to_contain_text("Lost Update")
    list_loads = []

    def count_list_loads(request):
        if request.headers.get("hx-target") == "list-pane":
            list_loads.append(request.url)

    page.on("request", count_list_loads)

    # A server that fell behind says so three times in a row.
    for _ in range(3):
        in_thread(the_server_dropped_updates_for, agent)

    expect(page.locator("#conversation-list")).to_contain_text("Lost Update")
    page.wait_for_timeout(6000)
    assert len(list_loads) == 2  # at once, and once more after the last


def writes_and_the_update_is_lost(name, text):
    """The customer `name` writes again in their conversation; no page gets the update."""
    conversation = Conversation.objects.filter(contact__name=name).order_by("-pk").first()
    with mock.patch("channels_app.events.broadcast_many"):
        services.record_inbound_message(
            conversation.inbox, conversation.contact_identity, body=text
        )


def reload_the_thread_of(user):
    """What the server sends when the open thread missed more than it can replay."""
    html = render_to_string("channels_app/resync.html", {"scope": "thread"})
    send_to_groups(
        get_channel_layer(), [(user_group(user.pk), {"type": "live.event", "html": html})]
    )


def writing_in_emmas_thread_when_her_update_is_lost(page, sign_in, in_thread):
    """An agent with Emma's thread open, half a reply written, misses her next message.
    Returns the reply box, marked so that a test can tell whether it was rendered again."""
    sign_in(page, "agent@example.com")
    open_conversation(page, "Emma Clarke")
    expect(status(page)).to_have_text("Live")
    reply = page.get_by_role("textbox", name="Reply")
    reply.fill("Let me check with the courier")
    reply.evaluate("box => { box.dataset.sameBox = 'yes' }")
    in_thread(writes_and_the_update_is_lost, "Emma Clarke", "Never mind, my neighbour had it.")
    page.wait_for_timeout(500)
    expect(page.get_by_role("list", name="Messages")).not_to_contain_text("my neighbour had it")
    return reply


def test_told_that_updates_were_lost_the_open_thread_shows_what_it_missed_and_keeps_the_draft(
    demo, live_app, page, sign_in, in_thread
):
    users, widget = demo
    # The thread is rendered with the latest event id; with none yet (a new log), it could
    # only be reloaded, not caught up.
    in_thread(a_customer_writes_and_the_update_is_lost, widget, "Earlier Visitor")
    reply = writing_in_emmas_thread_when_her_update_is_lost(page, sign_in, in_thread)

    in_thread(the_server_dropped_updates_for, users["agent@example.com"])

    # Caught up from the event the thread was rendered with, as after a reconnection: the
    # thread is not reloaded, so what the agent was writing stays as it was.
    expect(page.get_by_role("list", name="Messages")).to_contain_text(
        "Never mind, my neighbour had it."
    )
    expect(reply).to_have_value("Let me check with the courier")
    assert reply.evaluate("box => box.dataset.sameBox") == "yes"


def test_an_open_thread_that_missed_too_much_to_replay_is_reloaded_with_its_draft(
    demo, live_app, page, sign_in, in_thread
):
    users, _widget = demo
    reply = writing_in_emmas_thread_when_her_update_is_lost(page, sign_in, in_thread)

    in_thread(reload_the_thread_of, users["agent@example.com"])

    expect(page.get_by_role("list", name="Messages")).to_contain_text(
        "Never mind, my neighbour had it."
    )
    expect(reply).to_have_value("Let me check with the courier")
    expect(reply).to_be_focused()
    assert reply.evaluate("box => box.dataset.sameBox") is None  # a new thread pane


def test_reconnected_after_opening_several_threads_the_page_follows_only_the_one_on_screen(
    demo, live_app, page, sign_in, in_thread
):
    users, _widget = demo
    sign_in(page, "agent@example.com")
    for name in ("Emma Clarke", "Javier Morales", "Matteo Russo"):
        open_conversation(page, name)
    expect(status(page)).to_have_text("Live")
    on_screen = int(page.locator("#thread").get_attribute("data-conversation-id"))
    opens = []

    def record_opens(socket):
        def sent(payload):
            frame = json.loads(payload)
            if frame.get("type") == "open":
                opens.append(frame["conversation"])

        socket.on("framesent", sent)

    page.on("websocket", record_opens)
    page.evaluate(
        "window.opened = 0; document.addEventListener('htmx:wsOpen', () => window.opened++)"
    )

    in_thread(sockets_rejoin, [users["agent@example.com"].pk])

    page.wait_for_function("() => window.opened === 1", timeout=5000)
    page.wait_for_timeout(500)
    # Once, however many threads this page has opened: each "open" costs the server a
    # catch-up.
    assert opens == [on_screen]
