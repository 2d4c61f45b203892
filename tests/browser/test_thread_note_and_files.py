"""One thread holding a customer's photo, an agent's file and a private note with a mention."""

import re

from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from contacts.services import get_or_create_identity
from conversations import services
from tests.browser.test_attachments import image_is_shown
from tests.browser.test_conversation_actions import open_conversation
from tests.conversations.test_attachments import PDF, png_bytes


def parcel_photo():
    """A 360×240 picture: a brown box with a darker crease, on a light floor."""

    def pixel(x, y):
        if 60 <= x < 300 and 50 <= y < 200:
            crease = abs((x - 60) * 150 // 240 - (y - 50)) < 4
            return (120, 84, 48) if crease else (181, 136, 88)
        return (226, 229, 234)

    return png_bytes(360, 240, pixel)


def customer_sends_a_photo(widget):
    identity, _ = get_or_create_identity(widget, "visitor:crushed-parcel", name="Maya Brooks")
    photo = SimpleUploadedFile("crushed-parcel.png", parcel_photo(), content_type="image/png")
    return services.record_inbound_message(
        widget,
        identity,
        body="My parcel arrived crushed. Here is a photo of the box.",
        files=[photo],
    ).message.conversation


def test_a_note_a_photo_and_a_file_read_clearly_together_in_one_thread(
    demo, live_app, page, sign_in, in_thread, screenshot, console_problems, settings
):
    users, widget = demo
    # The files are written where the running app serves them from.
    settings.MEDIA_ROOT = live_app.logs.parent / "media"
    conversation = in_thread(customer_sends_a_photo, widget)

    console_problems(page)
    sign_in(page, "agent@example.com")
    open_conversation(page, "Maya Brooks")
    thread = page.get_by_role("list", name="Messages")
    page.get_by_label("Attach files").set_input_files(
        files=[{"name": "return-form.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    reply_box = page.get_by_role("textbox", name="Reply")
    reply_box.fill("Sorry about that, Maya. Print this return form and we will collect the box.")
    reply_box.press("Enter")
    expect(thread).to_contain_text("Print this return form")
    # A colleague's note for Ana arrives live while she has the thread open.
    in_thread(
        services.add_note,
        users["supervisor@example.com"],
        conversation,
        "@Ana Agent the photo shows clear damage: refund now, no need to wait for the return.",
        [users["agent@example.com"]],
    )

    photo = thread.get_by_role("img", name="crushed-parcel.png")
    expect(photo).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#thread img')].some(i => i.naturalWidth === 360)"
    )
    assert image_is_shown(photo)

    link = thread.get_by_role("link", name=re.compile("return-form.pdf"))
    expect(link).to_be_visible()
    expect(link).to_have_attribute("download", "return-form.pdf")
    download = page.request.get(live_app.url + link.get_attribute("href"))
    assert download.status == 200
    assert download.headers["content-type"] == "application/pdf"

    note = thread.locator(".message-note")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("Private note")
    expect(note).to_contain_text("@Ana Agent the photo shows clear damage")
    # A note looks like a note: its bubble is not the reply's.
    reply = thread.locator(".message-outbound:not(.message-note)").filter(has_text="return form")
    note_background = note.locator(".bubble").evaluate("b => getComputedStyle(b).backgroundColor")
    reply_background = reply.locator(".bubble").evaluate("b => getComputedStyle(b).backgroundColor")
    assert note_background != reply_background

    expect(reply.locator(".delivery")).not_to_have_class(re.compile("delivery-queued"))
    page.mouse.move(0, 0)  # no hover effects in the picture

    # Nothing overlaps: the three messages stack in order, each below the one before.
    boxes = [
        thread.locator(".message").filter(has_text=text).bounding_box()
        for text in ("arrived crushed", "return form", "clear damage")
    ]
    for above, below in zip(boxes, boxes[1:], strict=False):
        assert above["y"] + above["height"] <= below["y"] + 1
    screenshot(page, "thread-note-attachment")
    assert console_problems.problems == []
