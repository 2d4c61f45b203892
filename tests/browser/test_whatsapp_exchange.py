"""A WhatsApp customer and an agent talk live: text and pictures both ways, ticks, templates.

The customer writes through the provider sandbox, which posts signed webhooks to the
running daphne; the Celery worker stores them, fetches the customer's picture from the
sandbox and sends the agent's replies to it; the sandbox answers with receipts.
"""

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation, Direction, Message
from inbox.models import Inbox, InboxKind
from inbox.sandbox.inboxes import account_for, register_active_inboxes
from inbox.templates import sync_templates
from tests.browser.test_attachments import image_is_shown
from tests.conversations.test_attachments import png_bytes
from tests.integration.test_live_app import wait_for
from tests.integration.test_providers_live import settle

CUSTOMER = "+34600111222"


def mug_photo():
    """A 480×320 picture: a chipped blue mug on a light table."""

    def pixel(x, y):
        if 150 <= x < 300 and 80 <= y < 260:
            chipped = x > 270 and y < 110
            return (226, 229, 234) if chipped else (37, 99, 235)
        if 300 <= x < 350 and 130 <= y < 210 and not (312 <= x < 338 and 145 <= y < 195):
            return (37, 99, 235)
        return (226, 229, 234) if y < 270 else (181, 136, 88)

    return png_bytes(480, 320, pixel)


def replacement_photo():
    """A 300×200 picture: the new mug, green, in its box."""

    def pixel(x, y):
        if 100 <= x < 200 and 50 <= y < 170:
            return (22, 163, 74)
        if 60 <= x < 240 and 30 <= y < 190:
            return (181, 136, 88)
        return (245, 247, 250)

    return png_bytes(300, 200, pixel)


@pytest.fixture
def whatsapp(demo, live_app, provider_sandbox, settings):
    """The demo's WhatsApp inbox, registered on the sandbox: (inbox, sandbox)."""
    settings.PUBLIC_URL = live_app.url
    settings.MEDIA_ROOT = live_app.logs.parent / "media"
    settings.WHATSAPP_GRAPH_URL = f"{provider_sandbox.url}/graph"
    provider_sandbox.reset(accounts=True)
    register_active_inboxes(provider_sandbox)
    yield Inbox.objects.get(kind=InboxKind.WHATSAPP), provider_sandbox
    settle(provider_sandbox)
    provider_sandbox.reset(accounts=True)


def customer_writes(sandbox, inbox, text=None, image=None):
    answer = sandbox.whatsapp_customer_writes(
        inbox.provider_config["phone_number_id"], CUSTOMER, text, image=image, name="Lucía Romero"
    )
    assert answer.status_code == 200


def sends(sandbox, kind=None):
    """The messages our worker sent to the Cloud API (and WhatsApp took)."""
    return [
        r["json"]
        for r in sandbox.requests("whatsapp")
        if r["method"] == "POST"
        and r["path"].endswith("/messages")
        and r["status"] == 200
        and "status" not in (r["json"] or {})  # not a "mark as read"
        and (kind is None or r["json"].get("type") == kind)
    ]


def uploads(sandbox):
    return [
        r
        for r in sandbox.requests("whatsapp")
        if r["method"] == "POST" and r["path"].endswith("/media") and r["status"] == 200
    ]


def box_of(locator, timeout=5):
    """The element's box; a live swap (a tick moving) can replace it for an instant."""
    deadline = time.monotonic() + timeout
    while (box := locator.bounding_box()) is None:
        assert time.monotonic() < deadline, "the element never settled"
        time.sleep(0.1)
    return box


def test_a_whatsapp_customer_and_an_agent_exchange_text_and_pictures_live(
    whatsapp, live_app, page, sign_in, screenshot, console_problems
):
    inbox, sandbox = whatsapp
    page.set_viewport_size({"width": 1400, "height": 1100})  # the whole exchange in view
    console_problems(page)
    sign_in(page, "agent@example.com")
    page.locator("[data-view-key='all']").click()

    # The customer writes on WhatsApp: the conversation appears in the list by itself.
    customer_writes(sandbox, inbox, "Hola")
    # Stored by the worker first (a failure here is the worker's, below it the push's).
    wait_for(lambda: Message.objects.filter(inbox=inbox, body="Hola").exists(), 20)
    row = page.locator(".conv-row", has_text="Lucía Romero")
    expect(row).to_be_visible(timeout=20_000)
    row.get_by_role("link").click()
    thread = page.get_by_role("list", name="Messages")
    expect(thread.locator(".message-inbound")).to_contain_text("Hola")

    # The composer says until when free text may be sent on WhatsApp.
    window = page.locator("#reply-window")
    expect(window).to_contain_text("Customer-service window open until")
    expect(window).to_have_attribute("data-window-state", "open")
    # It closes tomorrow: the line names the day, not just a time that reads as past.
    last_message_at = Conversation.objects.get(inbox=inbox).last_customer_message_at
    closes = (last_message_at + timedelta(hours=24)).astimezone()  # the browser's zone
    expect(window.locator("time")).to_contain_text(closes.strftime("%b"))
    expect(window.locator("time")).to_contain_text(re.compile(rf"\b{closes.day}\b"))

    # A picture: shown as downloading while the worker fetches it, then as a preview.
    sandbox.queue_fault("whatsapp", "hold", path="/attachments")
    customer_writes(sandbox, inbox, "Así llegó la taza", image=(mug_photo(), "image/png"))
    photo_message = thread.locator(".message-inbound", has_text="Así llegó la taza")
    expect(photo_message.locator(".attachment-pending")).to_contain_text("Downloading…")
    sandbox.release()
    photo = photo_message.locator(".attachment-image img")
    expect(photo).to_be_visible(timeout=20_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#thread img')].some(i => i.naturalWidth === 480)"
    )
    assert image_is_shown(photo)
    expect(photo_message.locator(".attachment-pending")).to_have_count(0)

    # The agent answers in words, then with a picture of the replacement and a caption.
    reply_box = page.get_by_role("textbox", name="Reply")
    reply_box.fill("¡Lo siento, Lucía! Te enviamos una taza nueva hoy mismo.")
    with page.expect_response(re.compile(r"/reply/$")):
        reply_box.press("Enter")
    expect(thread).to_contain_text("Te enviamos una taza nueva")
    page.get_by_label("Attach files").set_input_files(
        files=[{"name": "taza-nueva.png", "mimeType": "image/png", "buffer": replacement_photo()}]
    )
    expect(page.get_by_role("list", name="Files to send")).to_contain_text("taza-nueva.png")
    reply_box = page.get_by_role("textbox", name="Reply")
    reply_box.fill("Esta es la tuya.")
    reply_box.press("Enter")

    sent_photo = thread.get_by_role("img", name="taza-nueva.png")
    expect(sent_photo).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#thread img')].some(i => i.naturalWidth === 300)"
    )
    assert image_is_shown(sent_photo)

    # WhatsApp took both: the text as text, the picture uploaded and sent by its media id.
    wait_for(lambda: len(sends(sandbox)) == 2, 20)
    assert [s["text"]["body"] for s in sends(sandbox, "text")] == [
        "¡Lo siento, Lucía! Te enviamos una taza nueva hoy mismo."
    ]
    [upload] = uploads(sandbox)
    assert upload["form"]["messaging_product"] == "whatsapp"
    assert upload["files"]["file"]["size"] == len(replacement_photo())
    [image_send] = sends(sandbox, "image")
    assert image_send["to"] == CUSTOMER.lstrip("+")
    assert image_send["image"]["caption"] == "Esta es la tuya."
    # The id sent is the one the upload made: the sandbox holds the agent's very file.
    uploaded = sandbox.media(image_send["image"]["id"])
    assert uploaded["content"] == replacement_photo()
    assert uploaded["content_type"] == "image/png"

    # The receipts come back as webhooks: both replies' ticks move to "read" live.
    replies = thread.locator(".message-outbound")
    expect(replies).to_have_count(2)
    for n in range(2):
        expect(replies.nth(n).locator(".delivery")).to_have_class(
            re.compile(r"\bdelivery-read\b"), timeout=20_000
        )
    assert set(
        Message.objects.filter(direction=Direction.OUTBOUND).values_list("status", flat=True)
    ) == {"read"}

    page.mouse.move(0, 0)  # no hover effects in the picture
    boxes = [
        box_of(thread.locator(".message").filter(has_text=text))
        for text in ("Hola", "Así llegó", "Lo siento", "Esta es la tuya")
    ]
    for above, below in zip(boxes, boxes[1:], strict=False):
        assert above["y"] + above["height"] <= below["y"] + 1
    # A preview is a preview: never wider than the thread, never a full-size photo.
    thread_box = thread.bounding_box()
    sent_message = thread.locator(".message-outbound", has_text="Esta es la tuya")
    for message, image in ((photo_message, photo), (sent_message, sent_photo)):
        box = image.bounding_box()
        assert box["width"] <= min(360, thread_box["width"])
        assert box["height"] <= 320
        # The bubble fits the preview (and its short caption), not the full-size photo.
        assert message.locator(".bubble").bounding_box()["width"] <= box["width"] + 40
    screenshot(page, "whatsapp-exchange")
    assert console_problems.problems == []


def test_after_24_hours_the_agent_can_send_only_an_approved_template(
    whatsapp, live_app, page, sign_in, screenshot, console_problems
):
    inbox, sandbox = whatsapp
    _provider, fields = account_for(inbox)
    sandbox.add_whatsapp(
        **fields,
        templates=[
            {
                "name": "order_follow_up",
                "language": "es",
                "status": "APPROVED",
                "category": "UTILITY",
                "components": [
                    {"type": "BODY", "text": "Hola, tu pedido {{1}} está listo. ¿Seguimos?"}
                ],
            },
            {
                "name": "summer_promo",
                "language": "es",
                "status": "PENDING",
                "category": "MARKETING",
                "components": [{"type": "BODY", "text": "¡Rebajas, {{1}}!"}],
            },
        ],
    )
    assert sync_templates(inbox) == 2
    customer_writes(sandbox, inbox, "¿Dónde está mi pedido?")
    conversation = wait_for(lambda: Conversation.objects.filter(inbox=inbox).first(), 20)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_customer_message_at=timezone.now() - timedelta(hours=25)
    )

    console_problems(page)
    sign_in(page, "agent@example.com")
    page.locator("[data-view-key='all']").click()
    page.locator(".conv-row", has_text="Lucía Romero").get_by_role("link").click()
    thread = page.get_by_role("list", name="Messages")
    expect(thread).to_contain_text("¿Dónde está mi pedido?")

    window = page.locator("#reply-window")
    expect(window).to_have_attribute("data-window-state", "template_only")
    expect(window).to_contain_text("More than 24 hours have passed")
    # Only the approved template is offered, already unfolded.
    template = page.get_by_role("group", name="Template order_follow_up")
    expect(template).to_be_visible()
    expect(template).to_contain_text("tu pedido {{1}} está listo")
    expect(page.get_by_role("group", name="Template summer_promo")).to_have_count(0)

    template.get_by_label("Value for {{1}}").fill("#4817")
    template.get_by_role("button", name="Send template").click()

    sent = thread.locator(".message-outbound")
    expect(sent).to_contain_text("Hola, tu pedido #4817 está listo. ¿Seguimos?")
    expect(sent).to_contain_text("order_follow_up")
    expect(sent.locator(".delivery")).to_have_class(
        re.compile(r"\bdelivery-read\b"), timeout=20_000
    )
    [send] = sends(sandbox)
    assert send["type"] == "template"
    assert send["to"] == CUSTOMER.lstrip("+")
    assert send["template"] == {
        "name": "order_follow_up",
        "language": {"code": "es"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "#4817"}]}],
    }
    # The composer still offers only templates: the customer has not written again.
    expect(page.locator("#reply-window")).to_have_attribute("data-window-state", "template_only")
    page.mouse.move(0, 0)
    # Last: Playwright's screenshot leaves empty style attributes behind, which htmx would
    # copy during a later swap (and the CSP refuses).
    screenshot(page, "whatsapp-template-only")
    assert console_problems.problems == []
