"""Inbound deliveries are stored raw once, then applied once, whatever the provider repeats.

These use the e-mail channel's raw RFC 822 deliveries (the path `simulate email` and IMAP
polling take); the HTTP providers' webhooks are covered in tests/providers/.
"""

import pytest

from contacts.models import ContactIdentity
from conversations.models import Conversation, Message, Status
from conversations.services import send_reply
from inbox.inbound import accept_delivery, apply_inbound_event
from inbox.models import InboundEvent, InboundEventStatus, Inbox, InboxKind
from tests.email.mails import plain_mail

pytestmark = pytest.mark.django_db


def deliver(inbox, mail):
    raw = bytes(mail) if not isinstance(mail, bytes) else mail
    accepted = accept_delivery(inbox, body=raw, content_type="message/rfc822")
    return accepted, apply_inbound_event(accepted.event.pk)


def test_a_delivery_is_stored_raw_and_applied_once(email_inbox):
    accepted, event = deliver(email_inbox, plain_mail())

    assert accepted.created
    assert event.status == InboundEventStatus.PROCESSED
    message = Message.objects.get(inbox=email_inbox)
    assert message.body == "Hello, my order has not arrived."
    assert message.external_id == "first.1@customer.test"
    assert message.conversation.contact.email == "ana@customer.test"


def test_the_same_delivery_again_stores_nothing_new(email_inbox):
    deliver(email_inbox, plain_mail())
    again, _event = deliver(email_inbox, plain_mail())

    assert not again.created
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_the_same_message_in_another_delivery_is_stored_once(email_inbox):
    # A provider may wrap one message in two different deliveries (e.g. IMAP after a
    # UIDVALIDITY change): the message's own id decides.
    deliver(email_inbox, plain_mail())
    deliver(email_inbox, plain_mail(X_Trace="second copy"))

    assert InboundEvent.objects.count() == 2
    assert Message.objects.count() == 1


def test_applying_an_event_twice_changes_nothing(email_inbox):
    accepted, _event = deliver(email_inbox, plain_mail())

    apply_inbound_event(accepted.event.pk)

    assert Message.objects.count() == 1


def test_an_unreadable_delivery_stays_as_a_failed_event_with_its_error(email_inbox):
    _accepted, event = deliver(email_inbox, b"\x00\x01 not a mail at all")

    assert event.status == InboundEventStatus.FAILED
    assert event.error
    assert Message.objects.count() == 0


def test_a_failed_event_can_be_applied_again_after_a_fix(email_inbox):
    accepted, event = deliver(email_inbox, b"\x00\x01 not a mail at all")
    InboundEvent.objects.filter(pk=event.pk).update(
        body=bytes(plain_mail()), status=InboundEventStatus.PENDING
    )

    event = apply_inbound_event(accepted.event.pk)

    assert event.status == InboundEventStatus.PROCESSED
    assert Message.objects.count() == 1


def test_a_reply_to_our_mail_joins_its_conversation(
    email_inbox, agent, django_capture_on_commit_callbacks
):
    deliver(email_inbox, plain_mail())
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        ours = send_reply(agent, conversation, "It left our warehouse today.")
    ours.refresh_from_db()
    assert ours.external_id

    deliver(
        email_inbox,
        plain_mail(
            "Thanks!",
            subject="Re: Where is my order?",
            message_id="<second.2@customer.test>",
            In_Reply_To=f"<{ours.external_id}>",
        ),
    )

    assert Conversation.objects.count() == 1
    assert conversation.messages.count() == 3


def test_the_reply_address_names_the_conversation(email_inbox, settings):
    deliver(email_inbox, plain_mail())
    conversation = Conversation.objects.get()

    deliver(
        email_inbox,
        plain_mail(
            "One more thing.",
            subject="something else",
            message_id="<third.3@customer.test>",
            to=f"reply+{conversation.uuid}@{settings.INBOUND_EMAIL_DOMAIN}",
        ),
    )

    assert Conversation.objects.count() == 1


def test_a_reply_address_of_someone_elses_conversation_starts_a_new_one(email_inbox, settings):
    deliver(email_inbox, plain_mail())
    conversation = Conversation.objects.get()

    deliver(
        email_inbox,
        plain_mail(
            "I found this address.",
            sender="Mallory <mallory@evil.test>",
            message_id="<m.1@evil.test>",
            to=f"reply+{conversation.uuid}@{settings.INBOUND_EMAIL_DOMAIN}",
        ),
    )

    assert Conversation.objects.count() == 2
    assert conversation.messages.count() == 1


def test_a_new_subject_starts_a_new_conversation(email_inbox):
    deliver(email_inbox, plain_mail())
    deliver(
        email_inbox, plain_mail("Invoice?", subject="Invoice", message_id="<i.1@customer.test>")
    )

    assert Conversation.objects.filter(status=Status.OPEN).count() == 2


def test_a_known_email_address_joins_the_known_contact(email_inbox, widget_inbox):
    from contacts.services import get_or_create_identity

    visitor, _ = get_or_create_identity(
        widget_inbox, "visitor:1", name="Ana", email="ANA@customer.test"
    )

    deliver(email_inbox, plain_mail())

    identity = ContactIdentity.objects.get(inbox=email_inbox)
    assert identity.contact_id == visitor.contact_id


@pytest.fixture
def messenger_inbox(agent):
    inbox = Inbox.objects.create(
        kind=InboxKind.MESSENGER,
        name="Messenger",
        provider_config={"page_id": "300000000000001"},
        provider_secrets={"page_token": "t", "app_secret": "s", "verify_token": "v"},
    )
    inbox.members.add(agent)
    return inbox


def messenger_delivery(inbox, event):
    import json

    from inbox.sandbox.payloads import messaging_envelope

    payload = messaging_envelope("page", "300000000000001", event)
    body = json.dumps(payload, ensure_ascii=True).encode()
    accepted = accept_delivery(inbox, body=body, content_type="application/json")
    return apply_inbound_event(accepted.event.pk)


def test_an_echo_of_a_message_sent_from_elsewhere_is_recorded_as_ours(messenger_inbox):
    from inbox.sandbox.payloads import messaging_message_event

    messenger_delivery(
        messenger_inbox,
        messaging_message_event("24930017001", "300000000000001", "Hi, I am writing first"),
    )
    echo = messaging_message_event(
        "300000000000001", "24930017001", "Sent from the page's phone", echo={"app_id": 1}
    )
    messenger_delivery(messenger_inbox, echo)
    messenger_delivery(messenger_inbox, echo)  # a repeated echo changes nothing

    outbound = Message.objects.get(body="Sent from the page's phone")
    assert (outbound.direction, outbound.status) == ("outbound", "sent")
    assert outbound.conversation == Message.objects.get(body="Hi, I am writing first").conversation
    assert Message.objects.count() == 2


def test_an_echo_of_our_own_reply_is_not_recorded_again(messenger_inbox, agent):
    from inbox.sandbox.payloads import messaging_message_event

    messenger_delivery(
        messenger_inbox, messaging_message_event("24930017001", "300000000000001", "Hello")
    )
    conversation = Conversation.objects.get()
    ours = send_reply(agent, conversation, "Hello back")
    Message.objects.filter(pk=ours.pk).update(external_id="m_ours", status="sent")

    messenger_delivery(
        messenger_inbox,
        messaging_message_event(
            "300000000000001", "24930017001", "Hello back", mid="m_ours", echo={"app_id": 1}
        ),
    )

    assert Message.objects.filter(body="Hello back").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_webhook_stores_its_delivery_in_one_statement_and_enqueues_it_once_stored(
    email_inbox, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    enqueued = []
    monkeypatch.setattr("inbox.inbound.enqueue_processing", enqueued.append)

    with CaptureQueriesContext(connection) as captured:
        accepted = accept_delivery(
            email_inbox, body=bytes(plain_mail()), content_type="message/rfc822"
        )

    # The INSERT commits by itself: no BEGIN and COMMIT round trips around it.
    assert [q["sql"].split()[0] for q in captured] == ["INSERT"]
    assert enqueued == [accepted.event.pk]


def test_a_repeat_inside_a_callers_transaction_leaves_it_usable_and_enqueues_on_its_commit(
    email_inbox, monkeypatch, django_capture_on_commit_callbacks
):
    enqueued = []
    monkeypatch.setattr("inbox.inbound.enqueue_processing", enqueued.append)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = accept_delivery(
            email_inbox, body=bytes(plain_mail()), content_type="message/rfc822"
        )
        again = accept_delivery(
            email_inbox, body=bytes(plain_mail()), content_type="message/rfc822"
        )
        assert enqueued == []  # not before the caller's transaction commits
        assert InboundEvent.objects.count() == 1  # the transaction still answers

    assert (first.created, again.created) == (True, False)
    assert again.event.pk == first.event.pk
    assert len(callbacks) == 1
    assert enqueued == [first.event.pk]
