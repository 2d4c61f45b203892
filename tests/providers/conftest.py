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

# The sandbox specs' fixtures serve here too: a running sandbox, and a receiver standing
# in for our webhook endpoint.
from tests.sandbox.conftest import receiver, sandbox  # noqa: F401


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def conversation_with(db):
    """The conversation that starts when `external_id` writes `body` to `inbox`."""

    def start(inbox, external_id, *, name="", phone="", body="hola", message_id=None):
        identity, _ = get_or_create_identity(inbox, external_id, name=name, phone=phone)
        return conversation_services.record_inbound_message(
            inbox, identity, body=body, external_id=message_id
        ).message.conversation

    return start


def _attach(message, name, content_type, content):
    attachment = Attachment(
        message=message, content_type=content_type, size=len(content), original_name=name
    )
    attachment.file.save("upload", ContentFile(content), save=False)
    attachment.save()


@pytest.fixture
def reply(media_root):
    """An agent's queued reply in `conversation`, with files as (name, type, bytes)."""

    def make(conversation, body="", *, files=(), in_reply_to=None, content_attributes=None):
        message = Message.objects.create(
            conversation=conversation,
            inbox=conversation.inbox,
            direction=Direction.OUTBOUND,
            author_type=AuthorType.AGENT,
            body=body,
            content_attributes=content_attributes or {},
            in_reply_to=in_reply_to,
            status=DeliveryStatus.QUEUED,
        )
        for name, content_type, content in files:
            _attach(message, name, content_type, content)
        return message

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
            _attach(message, name, content_type, content)
        return message

    return make
