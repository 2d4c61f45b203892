"""A delivery being applied when the database goes away stays pending, never failed.

The deterministic half of test_postgres_restart.py: there, whether the worker is cut off
mid-apply depends on timing; here the database error is raised at a fixed point. These
run on the embedded database (no private stack needed).
"""

import pytest
from django.db import InterfaceError, OperationalError

from conversations.models import Message
from inbox.inbound import accept_delivery, apply_inbound_event
from inbox.models import InboundEvent, InboundEventStatus, Inbox, InboxKind
from inbox.providers.email import EmailAdapter
from tests.email.mails import plain_mail

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "error",
    [OperationalError("couldn't get a connection after 10.00 sec"), InterfaceError("closed")],
)
def test_a_database_error_mid_apply_leaves_the_delivery_pending_for_the_sweeper(error, monkeypatch):
    inbox = Inbox.objects.create(
        kind=InboxKind.EMAIL, name="Support mail", provider_config={"address": "s@acme.test"}
    )
    accepted = accept_delivery(inbox, body=bytes(plain_mail()), content_type="message/rfc822")
    real_parse = EmailAdapter.parse

    def database_gone(self, body, content_type):
        raise error

    monkeypatch.setattr(EmailAdapter, "parse", database_gone)
    assert apply_inbound_event(accepted.event.pk) is None
    assert InboundEvent.objects.get(pk=accepted.event.pk).status == InboundEventStatus.PENDING

    # The database is back: the sweeper's retry applies it.
    monkeypatch.setattr(EmailAdapter, "parse", real_parse)
    event = apply_inbound_event(accepted.event.pk)
    assert event.status == InboundEventStatus.PROCESSED
    assert Message.objects.filter(inbox=inbox).count() == 1
