import pytest

from inbox.models import Inbox, InboxKind


@pytest.fixture
def email_inbox(agent):
    """An e-mail inbox `agent` works in: its raw RFC 822 deliveries are the simplest to
    store and apply (the HTTP providers' webhooks are covered in tests/providers/)."""
    inbox = Inbox.objects.create(
        kind=InboxKind.EMAIL, name="Support mail", provider_config={"address": "s@acme.test"}
    )
    inbox.members.add(agent)
    return inbox
