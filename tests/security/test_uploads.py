"""Uploads: type and size limits, generated storage names, and files served only to those
who may see them, as inert downloads (nosniff and a sandboxing CSP)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conversations.attachments import SANDBOX_POLICY, signed_url
from conversations.models import Attachment, Message
from tests.security.conftest import MARK_A

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def agent(world, role):
    client = Client()
    client.force_login(world.users[role])
    return client


def reply_with(world, upload):
    return agent(world, "agent_in").post(
        f"/conversations/{world.a.conversation.pk}/reply/", {"body": "file", "files": [upload]}
    )


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("page.html", b"<script>alert(1)</script>", "text/html"),
        ("image.svg", b"<svg onload=alert(1)></svg>", "image/svg+xml"),
        ("fake.png", b"<script>alert(1)</script>", "image/png"),
        ("run.exe", b"MZ\x90\x00", "application/octet-stream"),
        ("empty.txt", b"", "text/plain"),
    ],
)
def test_files_of_a_refused_type_or_empty_are_not_stored(world, name, content, content_type):
    before = Attachment.objects.count()
    response = reply_with(world, SimpleUploadedFile(name, content, content_type=content_type))
    assert response.status_code == 422
    assert Attachment.objects.count() == before


def test_a_file_over_the_size_limit_is_not_stored(world, settings):
    settings.ATTACHMENT_MAX_BYTES = 1024
    before = Attachment.objects.count()
    upload = SimpleUploadedFile("big.txt", b"x" * 1025, content_type="text/plain")
    assert reply_with(world, upload).status_code == 422
    assert Attachment.objects.count() == before


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "/etc/passwd",
        "evil\x00.txt",
        "x" * 1000 + ".txt",
        ".htaccess",
        "\u202egnp.txt",
    ],
)
def test_storage_names_are_generated_and_names_cannot_traverse(world, media_root, name):
    from conversations import services

    upload = SimpleUploadedFile("placeholder", b"plain text", content_type="text/plain")
    upload.name = name  # as a hostile client could send it, past the multipart parser
    message = services.send_reply(world.users["agent_in"], world.a.conversation, "", [upload])
    attachment = message.attachments.get()
    stored = (media_root / attachment.file.name).resolve()
    assert stored.is_relative_to(media_root.resolve() / "attachments")
    assert attachment.file.name.startswith("attachments/")
    assert "passwd" not in attachment.file.name
    assert ".." not in attachment.file.name
    assert "/" not in attachment.original_name
    assert "\\" not in attachment.original_name
    assert "\x00" not in attachment.original_name
    assert len(attachment.original_name) <= 200
    assert not attachment.original_name.startswith(".")


def test_a_traversal_name_through_the_http_upload_stays_in_its_folder(world, media_root):
    upload = SimpleUploadedFile("../../../etc/passwd", b"root:x:0:0", content_type="text/plain")
    assert reply_with(world, upload).status_code == 200
    attachment = Attachment.objects.order_by("-pk").first()
    assert attachment.original_name == "passwd"
    assert (media_root / attachment.file.name).resolve().is_relative_to(media_root.resolve())


def served_headers_are_inert(response):
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == SANDBOX_POLICY


def test_an_attachment_is_served_inert_to_who_may_see_it_and_404_to_others(world):
    url = f"/attachments/{world.a.attachment.pk}/"
    response = agent(world, "agent_in").get(url)
    assert response.status_code == 200
    assert MARK_A.encode() in b"".join(response.streaming_content)
    served_headers_are_inert(response)
    assert response["Content-Disposition"].startswith("attachment;")
    assert agent(world, "agent_out").get(url).status_code == 404
    assert Client().get(url).status_code == 302


def test_an_image_is_inline_but_still_sandboxed(world):
    from conversations import services

    upload = SimpleUploadedFile("pic.png", PNG, content_type="image/png")
    message = services.send_reply(world.users["agent_in"], world.a.conversation, "", [upload])
    response = agent(world, "agent_in").get(f"/attachments/{message.attachments.get().pk}/")
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    served_headers_are_inert(response)


def visitor_get(world, side, attachment):
    return Client().get(
        f"/widget/{world.a.inbox.public_token}/attachments/{attachment.pk}/",
        HTTP_X_VISITOR_TOKEN=world.token(side),
    )


def test_a_visitor_gets_their_own_file_and_never_another_sessions_or_a_notes(world):
    from conversations import services

    own = visitor_get(world, world.a, world.a.attachment)
    assert own.status_code == 200
    served_headers_are_inert(own)
    assert visitor_get(world, world.a2, world.a.attachment).status_code == 404
    assert visitor_get(world, world.a, world.b.attachment).status_code == 404
    note = services.add_note(
        world.users["agent_in"],
        world.a.conversation,
        "internal",
        files=[SimpleUploadedFile("internal.txt", b"secret", content_type="text/plain")],
    )
    assert visitor_get(world, world.a, note.attachments.get()).status_code == 404


def test_a_signed_link_works_until_it_expires_or_is_tampered_with(world, settings):
    path = signed_url(world.a.attachment).removeprefix(settings.PUBLIC_URL)
    response = Client().get(path)
    assert response.status_code == 200
    served_headers_are_inert(response)
    token = path.rstrip("/").rsplit("/", 1)[1]
    other = str(world.b.attachment.pk)
    tampered = [token[:-1] + ("A" if token[-1] != "A" else "B"), other + token[token.index(":") :]]
    for bad in tampered:
        assert Client().get(f"/attachments/signed/{bad}/").status_code == 403
    settings.ATTACHMENT_URL_MAX_AGE = -1
    assert Client().get(path).status_code == 403


def test_visitor_uploads_obey_the_same_checks(world, settings):
    before = Message.objects.count()
    response = Client().post(
        f"/widget/{world.a.inbox.public_token}/messages/",
        {"files": [SimpleUploadedFile("x.html", b"<script>", content_type="text/html")]},
        HTTP_ORIGIN=settings.PUBLIC_ORIGIN,
        HTTP_X_VISITOR_TOKEN=world.token(world.a),
    )
    assert response.status_code == 422
    assert Message.objects.count() == before
