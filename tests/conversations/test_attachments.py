"""Attachments both ways: checks before any write, storage, access, serving, signed links."""

import re
import struct
import time
import zlib
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels_app.events import frames_for
from channels_app.models import LiveEvent
from contacts.services import get_or_create_identity
from conversations import attachments, services
from conversations.models import Attachment, DeliveryStatus, Direction, Message
from inbox.widget import TOKEN_HEADER, sign_visitor_token

pytestmark = pytest.mark.usefixtures("fast_password_hashing", "media_root")

HTMX = {"HX-Request": "true"}
STORED_NAME = re.compile(r"^attachments/\d{4}/\d{2}/[0-9a-f]{32}$")


# --- Files to upload --------------------------------------------------------------------------


def png_bytes(width=4, height=3, pixel=lambda x, y: (37, 99, 235)):
    """A real PNG image, made by hand (no imaging library needed). `pixel(x, y)` -> RGB."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def upload(name, content, content_type):
    return SimpleUploadedFile(name, content, content_type=content_type)


def image(name="photo.png"):
    return upload(name, png_bytes(), "image/png")


def pdf(name="invoice.pdf"):
    return upload(name, PDF, "application/pdf")


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def conversation(widget_inbox, customer_writes):
    return customer_writes(widget_inbox, "Here is my order", name="Emma Clarke").conversation


def reply(client, conversation, body="", files=(), **data):
    return client.post(
        reverse("conversations:reply", args=[conversation.pk]),
        {"body": body, "files": list(files), **data},
        headers=HTMX,
    )


def stored_files(root):
    return [path for path in Path(root).rglob("*") if path.is_file()]


def attachment_url(attachment):
    return reverse("conversations:attachment", args=[attachment.pk])


# --- Sending files ----------------------------------------------------------------------------


def test_a_reply_with_an_image_stores_it_under_a_generated_name(
    agent_client, conversation, media_root
):
    response = reply(agent_client, conversation, "Here is the label", [image("label.png")])

    assert response.status_code == 200
    message = Message.objects.get(direction=Direction.OUTBOUND)
    attachment = message.attachments.get()
    assert (attachment.original_name, attachment.content_type, attachment.size) == (
        "label.png",
        "image/png",
        len(png_bytes()),
    )
    assert STORED_NAME.match(attachment.file.name)
    assert (media_root / attachment.file.name).read_bytes() == png_bytes()
    content = response.content.decode()
    assert f'src="{attachment_url(attachment)}"' in content
    assert 'alt="label.png"' in content


def test_a_reply_may_be_files_alone(agent_client, conversation):
    response = reply(agent_client, conversation, "", [pdf()])

    assert response.status_code == 200
    message = Message.objects.get(direction=Direction.OUTBOUND)
    assert message.body == ""
    assert [a.original_name for a in message.attachments.all()] == ["invoice.pdf"]


def test_a_private_note_may_carry_files(agent_client, conversation):
    response = reply(agent_client, conversation, "The customer's receipt", [pdf()], mode="note")

    assert response.status_code == 200
    note = Message.objects.get(kind="note")
    assert note.attachments.get().content_type == "application/pdf"


def test_without_text_or_files_a_reply_is_still_refused(agent_client, conversation):
    response = reply(agent_client, conversation, "  ")

    assert response.status_code == 422
    assert "Write a message before sending." in response.content.decode()


def test_a_visitor_message_with_files_is_recorded_in_one_go(widget_inbox, visitor):
    result = services.record_inbound_message(
        widget_inbox, visitor, body="", files=[image("broken-grinder.png"), pdf()]
    )

    assert [a.original_name for a in result.message.attachments.order_by("pk")] == [
        "broken-grinder.png",
        "invoice.pdf",
    ]


# --- Refused uploads: a clear message, and nothing written ------------------------------------


def assert_nothing_written(media_root, live_events_before):
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    assert not Attachment.objects.exists()
    assert LiveEvent.objects.count() == live_events_before
    assert stored_files(media_root) == []


@pytest.mark.parametrize(
    ("files", "message"),
    [
        pytest.param(
            [upload("big.pdf", b"%PDF-1.4 " + b"x" * 2000, "application/pdf")],
            "“big.pdf” is too big (2.0\xa0KB). Files can be at most 1000\xa0bytes.",
            id="too-big",
        ),
        pytest.param(
            [upload("setup.exe", b"MZ\x90\x00" + b"\x00" * 60, "application/x-msdownload")],
            "“setup.exe” cannot be sent: only images (JPEG, PNG, GIF, WebP), PDF, text, CSV, "
            "office documents, audio and video files can.",
            id="refused-type",
        ),
        pytest.param(
            [upload("drawing.svg", b"<svg onload=alert(1)></svg>", "image/svg+xml")],
            "“drawing.svg” cannot be sent",
            id="svg",
        ),
        pytest.param(
            [upload("cat.png", b"<html><script>alert(1)</script></html>", "image/png")],
            "“cat.png” is not a real PNG: its contents do not match its type.",
            id="html-named-png",
        ),
        pytest.param(
            [upload("cat.png", b"<html><script>alert(1)</script></html>", "text/html")],
            "“cat.png” is not a real PNG",
            id="html-named-png-sent-as-html",
        ),
        pytest.param(
            [upload("report.docx", b"<html></html>", "application/octet-stream")],
            "“report.docx” is damaged or not what its name says",
            id="not-a-docx",
        ),
        pytest.param([upload("empty.txt", b"", "text/plain")], "“empty.txt” is empty.", id="empty"),
        pytest.param(
            [upload(f"note-{n}.txt", b"hello", "text/plain") for n in range(11)],
            "You chose 11 files; at most 10 can go with one message.",
            id="too-many",
        ),
    ],
)
def test_a_refused_upload_says_why_in_the_composer_and_writes_nothing(
    agent_client, conversation, settings, media_root, files, message
):
    settings.ATTACHMENT_MAX_BYTES = 1000
    events_before = LiveEvent.objects.count()

    response = reply(agent_client, conversation, "See attached", files)

    assert response.status_code == 422
    content = response.content.decode()
    assert message in content
    assert 'id="composer"' in content
    assert "See attached" in content  # the text the agent wrote is kept
    assert_nothing_written(media_root, events_before)


def test_one_bad_file_among_good_ones_refuses_them_all(agent_client, conversation, media_root):
    events_before = LiveEvent.objects.count()
    bad = upload("cat.jpg", b"not really a jpeg", "image/jpeg")

    response = reply(agent_client, conversation, "", [image(), pdf(), bad])

    assert response.status_code == 422
    assert "“cat.jpg” is not a real JPEG" in response.content.decode()
    assert_nothing_written(media_root, events_before)


def test_a_refused_note_writes_nothing_either(agent_client, conversation, media_root):
    events_before = LiveEvent.objects.count()

    response = reply(agent_client, conversation, "", [upload("x.html", b"<b>", "text/html")])

    assert response.status_code == 422
    assert_nothing_written(media_root, events_before)


def test_a_file_just_over_the_limit_is_not_shown_as_the_limit(settings):
    settings.ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
    almost = upload("scan.pdf", b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024), "application/pdf")

    with pytest.raises(attachments.UploadRefused) as refusal:
        attachments.check_uploads([almost])

    assert refusal.value.message == (
        "“scan.pdf” is too big (10.1\xa0MB). Files can be at most 10.0\xa0MB."
    )


def test_the_configured_limit_applies_and_django_lets_such_files_through(
    agent_client, conversation, settings
):
    settings.ATTACHMENT_MAX_BYTES = 4 * 1024 * 1024
    big = upload("scan.pdf", b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024), "application/pdf")

    response = reply(agent_client, conversation, "", [big])

    assert response.status_code == 200
    assert Attachment.objects.get().size == big.size
    assert django_settings.DATA_UPLOAD_MAX_NUMBER_FILES > django_settings.ATTACHMENT_MAX_FILES


# --- What a file is ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "declared", "head", "expected"),
    [
        ("photo.txt", "text/plain", png_bytes(), "image/png"),
        ("photo", "application/octet-stream", b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        ("anim.gif", "image/gif", b"GIF89a....", "image/gif"),
        ("pic.webp", "image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        ("orders.csv", "application/vnd.ms-excel", b"id,total\n1,10\n", "text/csv"),
        ("orders.csv", "", b"id,total\n", "text/csv"),
        ("notes.txt", "text/plain", b"hello", "text/plain"),
        ("letter.docx", "application/octet-stream", b"PK\x03\x04rest", None),
        ("voice.mp3", "audio/mpeg", b"ID3\x04\x00", "audio/mpeg"),
        ("clip.mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        ("clip.webm", "video/webm", b"\x1a\x45\xdf\xa3rest", "video/webm"),
    ],
)
def test_the_type_comes_from_the_bytes_where_they_tell(name, declared, head, expected):
    detected = attachments.detect_type(name, declared, head)

    if expected is None:
        assert detected == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    else:
        assert detected == expected


@pytest.mark.parametrize(
    ("name", "declared", "head"),
    [
        ("page.html", "text/html", b"<!doctype html>"),
        ("logo.svg", "image/svg+xml", b"<svg/>"),
        ("run.sh", "application/x-sh", b"#!/bin/sh"),
        ("fake.pdf", "application/pdf", b"<html>"),
        ("clip.mp4", "video/mp4", b"<html><body>"),
    ],
)
def test_files_that_are_not_what_they_claim_or_not_allowed_are_refused(name, declared, head):
    with pytest.raises(attachments.UploadRefused):
        attachments.detect_type(name, declared, head)


# --- Names: metadata only ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../../etc/passwd.png", "passwd.png"),
        ("..\\..\\windows\\evil.png", "evil.png"),
        ("/absolute/path.png", "path.png"),
        ("..png", "png"),
    ],
)
def test_a_path_in_the_original_name_cannot_reach_the_storage_path(
    agent_client, conversation, media_root, given, kept
):
    response = reply(agent_client, conversation, "", [upload(given, png_bytes(), "image/png")])

    assert response.status_code == 200
    attachment = Attachment.objects.get()
    assert attachment.original_name == kept
    assert STORED_NAME.match(attachment.file.name)
    path = Path(attachment.file.path).resolve()
    assert path.is_relative_to(Path(media_root).resolve())
    assert [p.resolve() for p in stored_files(media_root)] == [path]


@pytest.mark.parametrize(
    ("given", "kept"),
    [("line\r\nbreak.png", "linebreak.png"), ("nul\x00.pdf", "nul.pdf"), ("", "file")],
)
def test_control_characters_never_reach_a_header(given, kept):
    assert attachments.clean_original_name(given) == kept


def test_a_very_long_name_is_shortened_keeping_its_extension():
    assert attachments.clean_original_name("a" * 400 + ".pdf") == "a" * 196 + ".pdf"


# --- Agents fetching files --------------------------------------------------------------------


@pytest.fixture
def image_attachment(agent, conversation):
    message = services.add_note(agent, conversation, "", files=[image("receipt.png")])
    return message.attachments.get()


@pytest.fixture
def pdf_attachment(agent, conversation):
    message = services.send_reply(agent, conversation, "", files=[pdf('résumé "final".pdf')])
    return message.attachments.get()


def test_an_agent_previews_an_image_inline_with_safe_headers(agent_client, image_attachment):
    response = agent_client.get(attachment_url(image_attachment))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png_bytes()
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'inline; filename="receipt.png"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_other_files_download_with_their_name_safely_encoded(agent_client, pdf_attachment):
    response = agent_client.get(attachment_url(pdf_attachment))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
    )
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_plain_text_file_is_never_shown_as_a_page(agent_client, agent, conversation):
    hostile = upload("notes.txt", b"<script>alert(1)</script>", "text/plain")
    attachment = services.send_reply(agent, conversation, "", files=[hostile]).attachments.get()

    response = agent_client.get(attachment_url(attachment))

    assert response["Content-Type"] == "text/plain"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_a_file_missing_from_storage_is_a_404_not_an_error(agent_client, pdf_attachment):
    pdf_attachment.file.storage.delete(pdf_attachment.file.name)

    assert agent_client.get(attachment_url(pdf_attachment)).status_code == 404


def test_an_attachment_of_another_inbox_is_a_404(agent_client, make_user, theirs):
    someone = make_user(inboxes=[theirs.inbox])
    attachment = services.add_note(someone, theirs, "", files=[pdf()]).attachments.get()

    response = agent_client.get(attachment_url(attachment))

    assert response.status_code == 404
    assert agent_client.get(reverse("conversations:attachment", args=[99999])).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in_for_a_file(client, image_attachment):
    response = client.get(attachment_url(image_attachment))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_thread_previews_images_and_links_other_files(
    agent_client, conversation, image_attachment, pdf_attachment
):
    response = agent_client.get(reverse("conversations:detail", args=[conversation.pk]))

    content = response.content.decode()
    assert f'<img src="{attachment_url(image_attachment)}" alt="receipt.png"' in content
    link = re.search(
        rf'<a class="attachment attachment-file" href="{attachment_url(pdf_attachment)}"'
        r"[^>]*>(.*?)</a>",
        content,
        re.S,
    )
    assert link is not None
    assert "résumé &quot;final&quot;.pdf" in link.group(1)
    assert "KB" in link.group(1) or "bytes" in link.group(1)


def test_a_hostile_file_name_is_escaped_everywhere(agent_client, agent, conversation):
    name = "<img src=x onerror=alert(1)>.png"
    services.add_note(agent, conversation, "", files=[upload(name, png_bytes(), "image/png")])
    attachment = Attachment.objects.get()

    page = agent_client.get(reverse("conversations:detail", args=[conversation.pk]))
    frames = list(frames_for(LiveEvent.objects.get(message=attachment.message)))

    for html in [page.content.decode(), *(frame.html for frame in frames)]:
        assert "<img src=x" not in html
    assert 'alt="&lt;img src=x onerror=alert(1)&gt;.png"' in page.content.decode()


def test_live_pushes_carry_the_files_to_agents_and_the_visitor(
    agent, conversation, listening_agents
):
    listening_agents.view(conversation)
    message = services.send_reply(agent, conversation, "Label attached", files=[image()])
    services.deliver_outbound_message(message.pk)
    attachment = message.attachments.get()
    sent = LiveEvent.objects.filter(message=message, kind="message.updated").get()
    created = LiveEvent.objects.filter(message=message, kind="message.created").get()

    thread = [f.html for f in frames_for(created) if " thread -->" in f.html.split("\n")[0]]
    visitor_frames = [f.html for f in frames_for(sent) if " visitor -->" in f.html.split("\n")[0]]

    assert thread
    assert all(f'src="{attachment_url(attachment)}"' in html for html in thread)
    assert len(visitor_frames) == 1
    assert f'data-attachment-id="{attachment.pk}"' in visitor_frames[0]
    # The visitor's copy has no link they could not open (they have no session).
    assert attachment_url(attachment) not in visitor_frames[0]


@pytest.mark.parametrize("count", [1, 12])
def test_attachments_add_no_queries_per_message_to_a_thread(
    agent_client, agent, conversation, count
):
    for _n in range(count):
        services.add_note(agent, conversation, "", files=[image(), pdf()])
    url = reverse("conversations:detail", args=[conversation.pk])
    agent_client.get(url)

    with CaptureQueriesContext(connection) as queries:
        response = agent_client.get(url)

    assert response.content.decode().count('class="attachments"') == count
    assert len([q for q in queries if "conversations_attachment" in q["sql"]]) == 1


# --- Signed links for providers ---------------------------------------------------------------


def signed_path(attachment):
    return attachments.signed_url(attachment).removeprefix(django_settings.PUBLIC_URL)


def test_a_signed_link_is_absolute_under_public_url_and_works_without_signing_in(
    client, pdf_attachment
):
    url = attachments.signed_url(pdf_attachment)

    assert url.startswith(django_settings.PUBLIC_URL + "/attachments/signed/")
    response = client.get(signed_path(pdf_attachment))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_signed_link_expires(client, pdf_attachment, settings, monkeypatch):
    settings.ATTACHMENT_URL_MAX_AGE = 3600
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now - 3601)
    old = signed_path(pdf_attachment)
    monkeypatch.setattr(signing.time, "time", lambda: now - 3500)
    recent = signed_path(pdf_attachment)
    monkeypatch.setattr(signing.time, "time", lambda: now)

    assert client.get(old).status_code == 403
    assert client.get(recent).status_code == 200


def test_the_expiry_follows_the_setting(client, pdf_attachment, settings, monkeypatch):
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now - 120)
    path = signed_path(pdf_attachment)
    monkeypatch.setattr(signing.time, "time", lambda: now)

    settings.ATTACHMENT_URL_MAX_AGE = 60
    assert client.get(path).status_code == 403
    settings.ATTACHMENT_URL_MAX_AGE = 300
    assert client.get(path).status_code == 200


def test_a_tampered_signed_link_is_a_403(client, pdf_attachment, image_attachment):
    token = signed_path(pdf_attachment).rstrip("/").split("/")[-1]
    value, stamp, signature = token.split(":")
    forged = [
        f"{image_attachment.pk}:{stamp}:{signature}",
        f"{value}:{stamp}:{signature[:-2]}xx",
        f"{value}:{stamp}",
        "nonsense",
    ]

    for bad in forged:
        url = reverse("conversations:signed_attachment", args=[bad])
        assert client.get(url).status_code == 403, bad


def test_a_signature_of_another_kind_is_no_key_to_files(client, pdf_attachment):
    token = signing.TimestampSigner().sign(str(pdf_attachment.pk))

    response = client.get(reverse("conversations:signed_attachment", args=[token]))

    assert response.status_code == 403


def test_a_signed_link_to_a_deleted_file_is_a_404(client, pdf_attachment):
    path = signed_path(pdf_attachment)
    pdf_attachment.delete()

    assert client.get(path).status_code == 404


# --- The widget's visitor ---------------------------------------------------------------------


def origin():
    return {"Origin": django_settings.PUBLIC_ORIGIN}


def visitor_headers(identity):
    return {TOKEN_HEADER: sign_visitor_token(identity), **origin()}


def post_visitor_message(client, inbox, identity, body="", files=(), headers=None):
    return client.post(
        reverse("widget_messages", args=[inbox.public_token]),
        {"body": body, "files": list(files)},
        headers=visitor_headers(identity) if headers is None else headers,
    )


def visitor_file_url(inbox, attachment):
    return reverse("widget_attachment", args=[inbox.public_token, attachment.pk])


def test_a_visitor_sends_a_file_from_the_widget(client, widget_inbox, visitor):
    response = post_visitor_message(client, widget_inbox, visitor, "My receipt", [pdf()])

    assert response.status_code == 200
    message = Message.objects.get(direction=Direction.INBOUND)
    attachment = message.attachments.get()
    assert (message.body, attachment.original_name) == ("My receipt", "invoice.pdf")
    content = response.content.decode()
    assert f'href="attachments/{attachment.pk}/"' in content
    assert 'download="invoice.pdf"' in content


def test_a_visitor_may_send_an_image_alone(client, widget_inbox, visitor):
    response = post_visitor_message(client, widget_inbox, visitor, "", [image()])

    assert response.status_code == 200
    attachment = Attachment.objects.get()
    assert (
        f'<img alt="photo.png" data-attachment-id="{attachment.pk}">' in response.content.decode()
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([upload("cat.png", b"<html></html>", "image/png")], "“cat.png” is not a real PNG"),
        ([upload("big.txt", b"x" * 2000, "text/plain")], "“big.txt” is too big"),
    ],
)
def test_a_refused_visitor_upload_says_why_and_writes_nothing(
    client, widget_inbox, visitor, settings, media_root, files, message
):
    settings.ATTACHMENT_MAX_BYTES = 1000

    response = post_visitor_message(client, widget_inbox, visitor, "hello", files)

    assert response.status_code == 422
    assert message in response.json()["error"]
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


def test_a_visitor_upload_from_a_foreign_origin_is_refused(client, widget_inbox, visitor):
    headers = {TOKEN_HEADER: sign_visitor_token(visitor), "Origin": "https://evil.example"}

    response = post_visitor_message(client, widget_inbox, visitor, "", [pdf()], headers=headers)

    assert response.status_code == 403
    assert not Attachment.objects.exists()


def test_a_visitor_fetches_a_file_of_their_conversation(client, widget_inbox, visitor, agent):
    own = services.record_inbound_message(widget_inbox, visitor, body="", files=[image()]).message
    ours = services.send_reply(agent, own.conversation, "", files=[pdf()])
    services.deliver_outbound_message(ours.pk)
    ours.refresh_from_db()
    assert ours.status == DeliveryStatus.SENT

    for message in (own, ours):
        attachment = message.attachments.get()
        response = client.get(
            visitor_file_url(widget_inbox, attachment),
            headers={TOKEN_HEADER: sign_visitor_token(visitor)},
        )
        assert response.status_code == 200
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_the_history_shows_the_visitors_files(client, widget_inbox, visitor):
    services.record_inbound_message(widget_inbox, visitor, body="Look", files=[image()])

    response = client.get(
        reverse("widget_messages", args=[widget_inbox.public_token]),
        headers={TOKEN_HEADER: sign_visitor_token(visitor)},
    )

    attachment = Attachment.objects.get()
    assert f'data-attachment-id="{attachment.pk}"' in response.content.decode()


def test_a_visitor_cannot_fetch_another_visitors_file(client, widget_inbox, visitor):
    other, _ = get_or_create_identity(widget_inbox, "visitor:someone-else")
    theirs = services.record_inbound_message(widget_inbox, other, body="", files=[pdf()])

    response = client.get(
        visitor_file_url(widget_inbox, theirs.message.attachments.get()),
        headers={TOKEN_HEADER: sign_visitor_token(visitor)},
    )

    assert response.status_code == 404


def test_a_visitor_cannot_fetch_the_file_of_a_private_note(client, widget_inbox, visitor, agent):
    own = services.record_inbound_message(widget_inbox, visitor, body="Hi").message
    note = services.add_note(agent, own.conversation, "", files=[pdf("internal.pdf")])

    response = client.get(
        visitor_file_url(widget_inbox, note.attachments.get()),
        headers={TOKEN_HEADER: sign_visitor_token(visitor)},
    )

    assert response.status_code == 404


def test_a_visitor_cannot_fetch_a_reply_that_has_not_been_sent(
    client, widget_inbox, visitor, agent
):
    own = services.record_inbound_message(widget_inbox, visitor, body="Hi").message
    queued = Message.objects.create(
        conversation=own.conversation,
        inbox=widget_inbox,
        direction=Direction.OUTBOUND,
        author_type="agent",
        author=agent,
        status=DeliveryStatus.QUEUED,
    )
    checked = attachments.check_uploads([pdf()])
    attachment = attachments.store(queued, checked)[0]

    response = client.get(
        visitor_file_url(widget_inbox, attachment),
        headers={TOKEN_HEADER: sign_visitor_token(visitor)},
    )

    assert response.status_code == 404


def test_a_visitor_file_needs_the_token(client, widget_inbox, visitor):
    own = services.record_inbound_message(widget_inbox, visitor, body="", files=[pdf()]).message

    response = client.get(visitor_file_url(widget_inbox, own.attachments.get()))

    assert response.status_code == 401


def test_a_visitor_file_is_only_served_on_its_own_inbox(client, widget_inbox, other_inbox, visitor):
    own = services.record_inbound_message(widget_inbox, visitor, body="", files=[pdf()]).message

    response = client.get(
        visitor_file_url(other_inbox, own.attachments.get()),
        headers={TOKEN_HEADER: sign_visitor_token(visitor)},
    )

    assert response.status_code == 401
