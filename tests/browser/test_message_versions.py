"""A message shown in a thread is never replaced by an older copy of itself.

Copies arrive by two roads: a reply's own response (rendered while it is still "queued")
and pushes (the worker saying it was sent). On a busy machine the push can come first.
"""

from playwright.sync_api import expect

from tests.browser.test_conversation_actions import open_conversation


def swap_in(page, message_id, conversation_id, version, text):
    """Apply a pushed copy of the message, as a websocket frame does (an htmx OOB swap)."""
    page.evaluate(
        """([id, conversationId, version, text]) => {
            const li = document.getElementById("message-" + id).cloneNode(true);
            li.dataset.version = version;
            li.querySelector(".message-body").textContent = text;
            const wrapper = document.createElement("div");
            wrapper.setAttribute("hx-swap-oob", "beforeend:#thread-messages-" + conversationId);
            wrapper.dataset.upsert = "replace";
            wrapper.appendChild(li);
            htmx.swap(document.body, wrapper.outerHTML, { swapStyle: "none" });
        }""",
        [message_id, conversation_id, version, text],
    )


def test_an_older_copy_of_a_message_does_not_replace_a_newer_one(demo, live_app, page, sign_in):
    sign_in(page, "agent@example.com")
    open_conversation(page, "Emma Clarke")
    shown = page.locator("#thread .message").filter(has=page.locator(".message-body")).last
    message_id = shown.get_attribute("data-message-id")
    conversation_id = page.locator("#thread").get_attribute("data-conversation-id")
    message = page.locator(f"#message-{message_id}")

    swap_in(page, message_id, conversation_id, "1893456000.000002", "The sent copy")
    expect(message).to_contain_text("The sent copy")

    # The reply's own response, rendered earlier, arrives late: it is left out.
    swap_in(page, message_id, conversation_id, "1893456000.000001", "The queued copy")
    expect(message).to_contain_text("The sent copy")
    expect(message).to_have_attribute("data-version", "1893456000.000002")

    # A newer copy (a receipt) still replaces it.
    swap_in(page, message_id, conversation_id, "1893456000.000003", "The read copy")
    expect(message).to_contain_text("The read copy")
