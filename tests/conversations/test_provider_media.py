"""A customer's file held by the provider is fetched by a task, and retried when slow."""

import httpx
import pytest

from contacts.services import get_or_create_identity
from conversations import services
from conversations.models import Attachment
from inbox.models import Inbox, InboxKind
from inbox.providers.base import InboundMedia, RetryableSendError
from inbox.sandbox import Sandbox
from tests.conversations.test_attachments import png_bytes

PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture
def sandbox(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PROVIDER_HTTP_TIMEOUT = httpx.Timeout(5, read=0.5)
    with Sandbox() as sb:
        settings.WHATSAPP_GRAPH_URL = f"{sb.url}/graph"
        yield sb


@pytest.fixture
def pending_photo(db, sandbox):
    """A customer's WhatsApp photo, recorded but not yet downloaded: its attachment."""
    inbox = Inbox.objects.create(
        name="WhatsApp",
        kind=InboxKind.WHATSAPP,
        provider_config={"phone_number_id": PHONE_NUMBER_ID, "waba_id": "1022901293"},
        provider_secrets={"access_token": "wa-token", "app_secret": "s", "verify_token": "v"},
    )
    sandbox.add_whatsapp(PHONE_NUMBER_ID, "1022901293", "wa-token", "s", "http://127.0.0.1:9/")
    media_id, _ = sandbox.host_media(png_bytes(), "image/png", owner=PHONE_NUMBER_ID)
    identity, _ = get_or_create_identity(inbox, "34600111222", name="Lucía")
    services.record_inbound_message(
        inbox,
        identity,
        body="Mira",
        pending_media=[InboundMedia(ref=media_id, content_type="image/png")],
    )
    return Attachment.objects.get(provider_ref=media_id)


def test_a_provider_too_slow_to_answer_a_download_is_asked_again_not_given_up(
    sandbox, pending_photo
):
    sandbox.queue_fault("whatsapp", "timeout", path="attachments", seconds=2)

    with pytest.raises(RetryableSendError):
        services.fetch_provider_media(pending_photo.pk)

    pending_photo.refresh_from_db()
    assert pending_photo.is_pending
    assert pending_photo.fetch_error == ""

    services.fetch_provider_media(pending_photo.pk)

    pending_photo.refresh_from_db()
    assert pending_photo.file.read() == png_bytes()
    assert pending_photo.content_type == "image/png"
