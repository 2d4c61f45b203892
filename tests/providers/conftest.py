"""Fixtures for the provider adapter specs: the sandbox, a webhook receiver, and messages."""

import pytest
from django.core.files.base import ContentFile

from contacts.services import get_or_create_identity
from conversations import services as conversation_services
from conversations.models import (
    Attachment,
    AuthorType,
    DeliveryStatus,
    Direction,
    Message,
    MessageKind,
)
from inbox.sandbox import Sandbox
from tests.sandbox.conftest import Receiver


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def conversation_with():
    """The conversation of the customer `external_id` on `inbox` (they wrote first)."""

    def make(inbox, external_id, name="Ana"):
        identity, _ = get_or_create_identity(inbox, external_id, name=name)
        return conversation_services.record_inbound_message(
            inbox, identity, body="Hello"
        ).message.conversation

    return make


@pytest.fixture
def outbound(media_root):
    """An agent's reply being sent: `files` are (name, content, content type) triples."""

    def make(conversation, body="", files=(), content_attributes=None):
        message = Message.objects.create(
            conversation=conversation,
            inbox=conversation.inbox,
            direction=Direction.OUTBOUND,
            kind=MessageKind.TEXT,
            author_type=AuthorType.AGENT,
            body=body,
            content_attributes=content_attributes or {},
            status=DeliveryStatus.SENDING,
        )
        for name, content, content_type in files:
            attachment = Attachment(
                message=message, content_type=content_type, size=len(content), original_name=name
            )
            attachment.file.save("upload", ContentFile(content), save=False)
            attachment.save()
        return message

    return make
