"""conversations.services: inbound messages, replies and their delivery states."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.models import LiveEvent
from contacts.services import get_or_create_identity
from conversations import services
from conversations.models import (
    Activity,
    ActivityField,
    AuthorType,
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    MessageKind,
    Status,
)
from conversations.services import ActionRefused
from inbox.models import Inbox, InboxKind
from inbox.providers.base import SendResult
from inbox.providers.web_widget import WebWidgetAdapter

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


def snapshot(conversation):
    """The fields a refused action must leave as they were."""
    conversation.refresh_from_db()
    return (
        conversation.last_message_id,
        conversation.last_message_at,
        conversation.waiting_since,
        conversation.first_response_at,
    )


@pytest.fixture
def conversation(widget_inbox, customer_writes):
    return customer_writes(widget_inbox, "Is the Guji still in stock?").conversation


@pytest.fixture
def sends(monkeypatch):
    """Every message handed to the website widget adapter, in order."""
    sent = []
    original = WebWidgetAdapter.send_message

    def record(adapter, message):
        sent.append(message.pk)
        return original(adapter, message)

    monkeypatch.setattr(WebWidgetAdapter, "send_message", record)
    return sent


# --- Inbound -------------------------------------------------------------------------------


def test_first_customer_message_starts_an_open_conversation(widget_inbox, visitor):
    result = services.record_inbound_message(widget_inbox, visitor, body="Hi there")

    assert result.created is True
    conversation = result.message.conversation
    assert conversation.status == Status.OPEN
    assert conversation.inbox == widget_inbox
    assert conversation.channel == InboxKind.WEB_WIDGET
    assert conversation.contact_identity == visitor
    assert conversation.contact_id == visitor.contact_id
    message = result.message
    assert (message.direction, message.kind, message.author_type) == (
        Direction.INBOUND,
        MessageKind.TEXT,
        AuthorType.CONTACT,
    )
    assert message.inbox == widget_inbox


def test_next_customer_message_joins_the_same_open_conversation(widget_inbox, visitor):
    first = services.record_inbound_message(widget_inbox, visitor, body="Hi").message
    second = services.record_inbound_message(widget_inbox, visitor, body="Anyone?").message

    assert second.conversation_id == first.conversation_id
    assert Conversation.objects.count() == 1
    assert list(first.conversation.messages.order_by("pk").values_list("body", flat=True)) == [
        "Hi",
        "Anyone?",
    ]


def test_inbound_message_updates_waiting_time_and_preview(widget_inbox, visitor):
    first = services.record_inbound_message(widget_inbox, visitor, body="Hi").message
    second = services.record_inbound_message(widget_inbox, visitor, body="Anyone?").message

    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.waiting_since == first.created_at
    assert conversation.last_customer_message_at == second.created_at
    assert conversation.last_message_at == second.created_at
    assert conversation.last_message_id == second.pk


def test_two_visitors_get_two_conversations(widget_inbox, customer_writes):
    one = customer_writes(widget_inbox, "Hi", visitor="visitor:one")
    two = customer_writes(widget_inbox, "Hi", visitor="visitor:two")

    assert one.conversation_id != two.conversation_id


def test_a_message_long_after_resolution_starts_a_new_conversation(widget_inbox, visitor, settings):
    first = services.record_inbound_message(widget_inbox, visitor, body="Hi").message
    Conversation.objects.filter(pk=first.conversation_id).update(
        status=Status.RESOLVED,
        resolved_at=timezone.now() - settings.CONVERSATION_REOPEN_WINDOW - timedelta(minutes=1),
    )

    later = services.record_inbound_message(widget_inbox, visitor, body="Me again").message

    assert later.conversation_id != first.conversation_id
    assert later.conversation.status == Status.OPEN
    assert Conversation.objects.get(pk=first.conversation_id).status == Status.RESOLVED


def test_a_message_soon_after_resolution_reopens_the_conversation(widget_inbox, visitor):
    first = services.record_inbound_message(widget_inbox, visitor, body="Hi").message
    Conversation.objects.filter(pk=first.conversation_id).update(
        status=Status.RESOLVED, resolved_at=timezone.now() - timedelta(minutes=5)
    )

    later = services.record_inbound_message(widget_inbox, visitor, body="One more thing").message

    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert later.conversation_id == conversation.pk
    assert (conversation.status, conversation.resolved_at) == (Status.OPEN, None)
    activity = Activity.objects.get(conversation=conversation)
    assert (activity.from_value, activity.to_value, activity.reason) == (
        Status.RESOLVED,
        Status.OPEN,
        "customer_message",
    )


def test_snoozed_conversation_is_reopened_by_a_customer_message(widget_inbox, visitor):
    first = services.record_inbound_message(widget_inbox, visitor, body="Hi").message
    Conversation.objects.filter(pk=first.conversation_id).update(
        status=Status.SNOOZED, snoozed_until=timezone.now() + timedelta(days=1)
    )

    later = services.record_inbound_message(widget_inbox, visitor, body="Still there?").message

    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert later.conversation_id == conversation.pk
    assert conversation.status == Status.OPEN
    assert conversation.snoozed_until is None
    activity = Activity.objects.get(conversation=conversation)
    assert (activity.field, activity.from_value, activity.to_value, activity.reason) == (
        ActivityField.STATUS,
        Status.SNOOZED,
        Status.OPEN,
        "customer_message",
    )
    assert activity.actor is None


def test_same_external_id_twice_stores_one_message(widget_inbox, visitor):
    first = services.record_inbound_message(
        widget_inbox, visitor, body="Hola", external_id="wamid.1"
    )
    again = services.record_inbound_message(
        widget_inbox, visitor, body="Hola", external_id="wamid.1"
    )

    assert (first.created, again.created) == (True, False)
    assert again.message.pk == first.message.pk
    assert Message.objects.count() == 1
    assert LiveEvent.objects.filter(kind="message.created").count() == 1


def test_same_external_id_on_another_inbox_is_another_message(widget_inbox, other_inbox, visitor):
    elsewhere, _ = get_or_create_identity(other_inbox, "visitor:fixture")
    services.record_inbound_message(widget_inbox, visitor, body="Hi", external_id="m-1")

    result = services.record_inbound_message(other_inbox, elsewhere, body="Hi", external_id="m-1")

    assert result.created is True
    assert Message.objects.count() == 2


def open_conversation(inbox, identity):
    return Conversation.objects.create(
        inbox=inbox,
        channel=inbox.kind,
        contact_id=identity.contact_id,
        contact_identity=identity,
        status=Status.OPEN,
    )


def test_database_refuses_a_second_open_conversation_for_one_identity(widget_inbox, visitor):
    open_conversation(widget_inbox, visitor)

    with pytest.raises(IntegrityError), transaction.atomic():
        open_conversation(widget_inbox, visitor)

    assert Conversation.objects.count() == 1


def test_database_allows_a_new_conversation_once_the_old_one_is_resolved(widget_inbox, visitor):
    old = open_conversation(widget_inbox, visitor)
    Conversation.objects.filter(pk=old.pk).update(status=Status.RESOLVED)

    open_conversation(widget_inbox, visitor)

    assert Conversation.objects.count() == 2


def test_email_inbox_allows_two_open_conversations_for_one_sender(db):
    mailbox = Inbox.objects.create(name="Support mailbox", kind=InboxKind.EMAIL)
    sender, _ = get_or_create_identity(mailbox, "emma@example.net")

    open_conversation(mailbox, sender)
    open_conversation(mailbox, sender)

    assert Conversation.objects.filter(contact_identity=sender, status=Status.OPEN).count() == 2


# --- Replies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "Write a message before sending."),
        ("   \n\t ", "Write a message before sending."),
        ("x" * 4001, "This message is too long: 4001 characters, at most 4000."),
    ],
)
def test_send_reply_refuses_bad_input_before_writing(agent, conversation, body, reason):
    before = snapshot(conversation)
    events_before = LiveEvent.objects.count()

    with pytest.raises(ActionRefused) as refused:
        services.send_reply(agent, conversation, body)

    assert refused.value.message == reason
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    assert snapshot(conversation) == before
    assert LiveEvent.objects.count() == events_before


def test_a_reply_of_exactly_the_maximum_length_is_accepted(agent, conversation, settings):
    message = services.send_reply(agent, conversation, "x" * settings.REPLY_MAX_LENGTH)

    assert len(message.body) == settings.REPLY_MAX_LENGTH


def test_send_reply_refuses_a_disconnected_inbox(agent, conversation, widget_inbox):
    Inbox.objects.filter(pk=widget_inbox.pk).update(is_active=False)
    conversation = Conversation.objects.select_related("inbox").get(pk=conversation.pk)
    before = snapshot(conversation)

    with pytest.raises(ActionRefused, match="disconnected"):
        services.send_reply(agent, conversation, "Hello?")

    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    assert snapshot(conversation) == before


def test_send_reply_saves_a_queued_reply_and_stops_the_waiting_clock(agent, conversation):
    assert conversation.waiting_since is not None

    message = services.send_reply(agent, conversation, "  Yes, 1 kg bags are in stock.  ")

    message.refresh_from_db()
    assert message.status == DeliveryStatus.QUEUED
    assert message.body == "Yes, 1 kg bags are in stock."
    assert (message.direction, message.kind, message.author) == (
        Direction.OUTBOUND,
        MessageKind.TEXT,
        agent,
    )
    conversation.refresh_from_db()
    assert conversation.waiting_since is None
    assert conversation.first_response_at == message.created_at
    assert conversation.last_message_id == message.pk


def test_first_response_time_is_set_once(agent, conversation, widget_inbox):
    first = services.send_reply(agent, conversation, "Yes.")
    services.record_inbound_message(
        widget_inbox, conversation.contact_identity, body="Great, and decaf?"
    )
    conversation.refresh_from_db()
    assert conversation.waiting_since is not None

    services.send_reply(agent, conversation, "Decaf too.")

    conversation.refresh_from_db()
    assert conversation.first_response_at == first.created_at
    assert conversation.waiting_since is None


def test_reply_is_delivered_after_commit_on_the_website_widget(
    agent, conversation, django_capture_on_commit_callbacks, sends
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = services.send_reply(agent, conversation, "Yes.")
    assert sends == []
    assert Message.objects.get(pk=message.pk).status == DeliveryStatus.QUEUED

    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()

    message.refresh_from_db()
    assert sends == [message.pk]
    assert message.status == DeliveryStatus.SENT
    assert message.status_changed_at is not None
    updated = LiveEvent.objects.get(kind="message.updated", message=message)
    assert updated.visible_to_visitor is True


def test_delivering_a_message_that_is_not_queued_sends_nothing(
    agent, conversation, django_capture_on_commit_callbacks, sends
):
    with django_capture_on_commit_callbacks(execute=True):
        message = services.send_reply(agent, conversation, "Yes.")
    message.refresh_from_db()
    sent_at = message.status_changed_at

    services.deliver_outbound_message(message.pk)

    message.refresh_from_db()
    assert sends == [message.pk]
    assert message.status == DeliveryStatus.SENT
    assert message.status_changed_at == sent_at


@pytest.mark.parametrize(
    "status", [DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN, DeliveryStatus.FAILED]
)
def test_a_message_that_may_have_left_is_never_sent_again(agent, conversation, sends, status):
    message = services.send_reply(agent, conversation, "Yes.")
    Message.objects.filter(pk=message.pk).update(status=status)

    services.deliver_outbound_message(message.pk)

    assert sends == []
    assert Message.objects.get(pk=message.pk).status == status


def test_delivering_a_missing_message_does_nothing(db, sends):
    assert services.deliver_outbound_message(987654) == services.DeliveryOutcome()
    assert sends == []


def test_the_provider_id_of_a_sent_message_is_recorded(agent, conversation, monkeypatch):
    monkeypatch.setattr(
        WebWidgetAdapter, "send_message", lambda adapter, message: SendResult("provider-77")
    )
    message = services.send_reply(agent, conversation, "Yes.")

    services.deliver_outbound_message(message.pk)

    message.refresh_from_db()
    assert (message.status, message.external_id) == (DeliveryStatus.SENT, "provider-77")


# --- Receipts ------------------------------------------------------------------------------


@pytest.fixture
def reply(agent, conversation):
    return services.send_reply(agent, conversation, "Yes.")


def set_status(message, status):
    Message.objects.filter(pk=message.pk).update(status=status)
    message.refresh_from_db()
    return message


def test_receipts_move_a_message_forward(reply):
    set_status(reply, DeliveryStatus.SENT)

    assert services.apply_delivery_status(reply, DeliveryStatus.DELIVERED) is True
    assert services.apply_delivery_status(reply, DeliveryStatus.READ) is True

    reply.refresh_from_db()
    assert reply.status == DeliveryStatus.READ


def test_a_late_delivered_receipt_does_not_move_read_back(reply):
    set_status(reply, DeliveryStatus.READ)
    changed_at = reply.status_changed_at

    assert services.apply_delivery_status(reply, DeliveryStatus.DELIVERED) is False
    assert services.apply_delivery_status(reply, DeliveryStatus.SENT) is False

    reply.refresh_from_db()
    assert reply.status == DeliveryStatus.READ
    assert reply.status_changed_at == changed_at


@pytest.mark.parametrize("stuck", [DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN])
@pytest.mark.parametrize("receipt", [DeliveryStatus.SENT, DeliveryStatus.DELIVERED])
def test_a_late_receipt_moves_failed_or_unknown_forward(reply, stuck, receipt):
    set_status(reply, stuck)

    assert services.apply_delivery_status(reply, receipt) is True

    reply.refresh_from_db()
    assert reply.status == receipt


def test_mark_read_by_visitor_marks_sent_replies_up_to_the_one_seen(
    agent, conversation, widget_inbox, customer_writes
):
    identity = conversation.contact_identity
    delivered = set_status(services.send_reply(agent, conversation, "One"), DeliveryStatus.SENT)
    also = set_status(services.send_reply(agent, conversation, "Two"), DeliveryStatus.DELIVERED)
    still_queued = services.send_reply(agent, conversation, "Three")
    after = set_status(services.send_reply(agent, conversation, "Four"), DeliveryStatus.SENT)
    someone_else = customer_writes(widget_inbox, "Hi", visitor="visitor:elsewhere")
    not_theirs = set_status(
        services.send_reply(agent, someone_else.conversation, "Hello"), DeliveryStatus.SENT
    )

    assert services.mark_read_by_visitor(identity, up_to_message_id=still_queued.pk) == 2

    statuses = dict(
        Message.objects.filter(
            pk__in=[delivered.pk, also.pk, still_queued.pk, after.pk, not_theirs.pk]
        ).values_list("pk", "status")
    )
    assert statuses == {
        delivered.pk: DeliveryStatus.READ,
        also.pk: DeliveryStatus.READ,
        still_queued.pk: DeliveryStatus.QUEUED,
        after.pk: DeliveryStatus.SENT,
        not_theirs.pk: DeliveryStatus.SENT,
    }
    pushed = LiveEvent.objects.filter(kind="message.updated").order_by("pk")
    assert [(e.message_id, e.visible_to_visitor) for e in pushed] == [
        (delivered.pk, True),
        (also.pk, True),
    ]


def test_mark_read_by_visitor_twice_changes_nothing_the_second_time(agent, conversation):
    reply = set_status(services.send_reply(agent, conversation, "One"), DeliveryStatus.SENT)
    identity = conversation.contact_identity
    services.mark_read_by_visitor(identity, reply.pk)

    assert services.mark_read_by_visitor(identity, reply.pk) == 0
    assert LiveEvent.objects.filter(kind="message.updated").count() == 1
