"""Files both ways between the workspace and the widget, and the composer's emoji picker."""

import re

from playwright.sync_api import expect

from conversations.models import Attachment
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_widget_loop import open_widget, visitor_says
from tests.conversations.test_attachments import PDF, png_bytes


def label_png():
    """A 320×180 picture: a blue-to-teal gradient with a light band, like a shipping label."""

    def pixel(x, y):
        if 70 <= y < 110 and 30 <= x < 290:
            return (245, 247, 250)
        return (37, 99 + x * 80 // 320, 235 - y * 60 // 180)

    return png_bytes(320, 180, pixel)


def open_visitors_conversation(page, text):
    page.get_by_role("link", name=re.compile("^All")).click()
    page.locator(".conv-row", has_text=text).get_by_role("link").click()
    thread = page.get_by_role("list", name="Messages")
    expect(thread).to_contain_text(text)
    return thread


def image_is_shown(locator):
    return locator.evaluate("img => img.complete && img.naturalWidth > 0")


def test_an_agents_image_previews_in_the_thread_and_reaches_the_visitor(
    demo, live_app, page, context, sign_in, screenshot, console_problems
):
    visitor_page = context.browser.new_context().new_page()
    console_problems(visitor_page)
    frame = open_widget(visitor_page, live_app)
    visitor_says(frame, "Could you send me the return label?")

    console_problems(page)
    sign_in(page, "agent@example.com")
    thread = open_visitors_conversation(page, "send me the return label")

    page.get_by_label("Attach files").set_input_files(
        files=[{"name": "return-label.png", "mimeType": "image/png", "buffer": label_png()}]
    )
    chips = page.get_by_role("list", name="Files to send")
    expect(chips).to_contain_text("return-label.png")
    reply = page.get_by_role("textbox", name="Reply")
    reply.fill("Here is your return label. Print it and stick it on the box.")
    reply.press("Enter")

    preview = thread.get_by_role("img", name="return-label.png")
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("src", re.compile(r"^/attachments/\d+/$"))
    page.wait_for_function(
        "() => [...document.querySelectorAll('#thread img')].some(i => i.naturalWidth === 320)"
    )
    assert image_is_shown(preview)
    expect(page.get_by_role("list", name="Files to send")).to_be_hidden()

    widget_image = frame.get_by_role("img", name="return-label.png")
    expect(widget_image).to_be_visible()
    expect(widget_image).to_have_attribute("src", re.compile(r"^blob:"))
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("Print it and stick it")
    visitor_page.frames[1].wait_for_function(
        "() => [...document.querySelectorAll('#widget-messages img')].some(i => i.naturalWidth)"
    )
    screenshot(page, "thread-with-attachment")
    screenshot(visitor_page, "widget-with-attachment")

    stored = Attachment.objects.get(original_name="return-label.png")
    assert stored.content_type == "image/png"
    assert console_problems.problems == []


def test_a_visitors_pdf_appears_live_in_the_thread_as_a_download_link(
    demo, live_app, page, context, sign_in, screenshot, console_problems
):
    visitor_page = context.browser.new_context().new_page()
    console_problems(visitor_page)
    frame = open_widget(visitor_page, live_app)
    visitor_says(frame, "The grinder arrived broken, I attach the delivery note.")

    console_problems(page)
    sign_in(page, "agent@example.com")
    thread = open_visitors_conversation(page, "The grinder arrived broken")

    frame.get_by_label("Attach a file").set_input_files(
        files=[{"name": "delivery-note.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    expect(frame.get_by_role("list", name="Files to send")).to_contain_text("delivery-note.pdf")
    frame.get_by_role("textbox", name="Message").press("Enter")

    widget_link = frame.get_by_role("link", name=re.compile("delivery-note.pdf"))
    expect(widget_link).to_be_visible()
    link = thread.get_by_role("link", name=re.compile("delivery-note.pdf"))
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert re.fullmatch(r"/attachments/\d+/", href)
    download = page.request.get(live_app.url + href)
    assert download.status == 200
    assert download.headers["content-type"] == "application/pdf"
    assert download.body() == PDF

    # The visitor can download their own file too (fetched with their token).
    with visitor_page.expect_download() as saved:
        widget_link.click()
    assert saved.value.suggested_filename == "delivery-note.pdf"
    screenshot(visitor_page, "widget-sent-file")
    screenshot(page, "thread-with-file")
    assert console_problems.problems == []


def test_a_file_that_is_too_big_is_refused_with_a_clear_error(
    demo, live_app, page, context, sign_in, screenshot
):
    visitor_page = context.browser.new_context().new_page()
    frame = open_widget(visitor_page, live_app)
    visitor_says(frame, "Here is the video of the noise it makes.")
    sign_in(page, "agent@example.com")
    thread = open_visitors_conversation(page, "video of the noise")

    too_big = b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024)
    page.get_by_label("Attach files").set_input_files(
        files=[{"name": "manual.pdf", "mimeType": "application/pdf", "buffer": too_big}]
    )
    page.get_by_role("textbox", name="Reply").fill("The manual, page 12.")
    page.get_by_role("button", name="Send").click()

    error = page.locator("#composer").get_by_role("alert")
    expect(error).to_contain_text(
        "“manual.pdf” is too big (11.0 MB). Files can be at most 10.0 MB."
    )
    # What the agent wrote and chose is still there, ready to fix and send.
    expect(page.get_by_role("textbox", name="Reply")).to_have_value("The manual, page 12.")
    expect(page.get_by_role("list", name="Files to send")).to_contain_text("manual.pdf")
    expect(thread).not_to_contain_text("The manual, page 12.")
    screenshot(page, "composer-file-too-big")
    assert not Attachment.objects.filter(original_name="manual.pdf").exists()

    page.get_by_role("button", name="Remove manual.pdf").click()
    page.get_by_role("button", name="Send").click()
    expect(thread).to_contain_text("The manual, page 12.")

    frame.get_by_label("Attach a file").set_input_files(
        files=[{"name": "noise.mp4", "mimeType": "video/mp4", "buffer": b"<html>not a video"}]
    )
    frame.get_by_role("button", name="Send message").click()
    expect(frame.get_by_role("alert")).to_contain_text("“noise.mp4” is damaged")
    expect(frame.get_by_role("list", name="Files to send")).to_contain_text("noise.mp4")


def test_files_can_be_dropped_or_pasted_and_emoji_inserted_from_the_keyboard(
    demo, live_app, page, context, sign_in, console_problems
):
    visitor_page = context.browser.new_context().new_page()
    frame = open_widget(visitor_page, live_app)
    visitor_says(frame, "Do you sell decaf beans?")
    console_problems(page)
    sign_in(page, "agent@example.com")
    thread = open_visitors_conversation(page, "Do you sell decaf beans?")

    page.evaluate(
        """() => {
          const drop = new DataTransfer();
          drop.items.add(new File(["id,bean\\n1,decaf"], "decaf.csv", { type: "text/csv" }));
          const composer = document.getElementById("composer");
          composer.dispatchEvent(new DragEvent("dragover", { bubbles: true, dataTransfer: drop }));
          composer.dispatchEvent(new DragEvent("drop", { bubbles: true, dataTransfer: drop }));
        }"""
    )
    page.evaluate(
        """(bytes) => {
          const paste = new DataTransfer();
          const file = new File([new Uint8Array(bytes)], "image.png", { type: "image/png" });
          paste.items.add(file);
          const box = document.getElementById("reply-body");
          box.dispatchEvent(new ClipboardEvent("paste", { bubbles: true, clipboardData: paste }));
        }""",
        list(png_bytes(16, 16)),
    )
    chips = page.get_by_role("list", name="Files to send")
    expect(chips.get_by_role("listitem")).to_have_count(2)
    expect(chips).to_contain_text("decaf.csv")
    expect(chips).to_contain_text(re.compile(r"pasted-\d{8}-\d{6}\.png"))

    reply = page.get_by_role("textbox", name="Reply")
    reply.fill("Yes! Our decaf is lovely ")
    page.get_by_role("button", name="Insert emoji").click()
    search = page.get_by_role("searchbox", name="Search emoji")
    expect(search).to_be_focused()
    expect(page.get_by_role("group", name="Smileys & emotion")).to_be_visible()
    # Playwright hides the caret with an injected style, which our CSP (rightly) blocks.
    page.screenshot(path=SCREENSHOTS / "emoji-picker.png", caret="initial")
    search.fill("hot beverage")
    expect(page.get_by_role("button", name="hot beverage")).to_be_visible()
    search.press("Enter")
    expect(reply).to_have_value("Yes! Our decaf is lovely ☕\ufe0f")
    expect(reply).to_be_focused()
    expect(search).to_be_hidden()

    # Keyboard only: open, arrow into the grid, move, choose; Escape closes.
    page.get_by_role("button", name="Insert emoji").press("Enter")
    expect(search).to_be_focused()
    search.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    expect(reply).to_have_value("Yes! Our decaf is lovely ☕\ufe0f😃")
    page.get_by_role("button", name="Insert emoji").click()
    page.keyboard.press("Escape")
    expect(search).to_be_hidden()
    expect(reply).to_be_focused()

    reply.press("Enter")
    expect(thread).to_contain_text("Yes! Our decaf is lovely ☕\ufe0f😃")
    expect(thread.get_by_role("link", name=re.compile("decaf.csv"))).to_be_visible()
    expect(thread.get_by_role("img", name=re.compile(r"pasted-.*\.png"))).to_be_visible()
    widget_messages = frame.get_by_role("list", name="Messages")
    expect(widget_messages).to_contain_text("Yes! Our decaf is lovely ☕\ufe0f😃")
    expect(widget_messages.get_by_role("link", name=re.compile("decaf.csv"))).to_be_visible()
    assert console_problems.problems == []
