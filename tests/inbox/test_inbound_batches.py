"""A worker applies deliveries that queue up in batches: each once, a bad one alone.

A delivery's task applies its own event and the oldest other pending ones in one
transaction; the live updates of the batch go out together after it commits.
"""

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from channels_app import events
from contacts.models import ContactIdentity
from conversations.models import Conversation, Message
from inbox.inbound import accept_delivery, apply_inbound_events
from inbox.models import InboundEvent, InboundEventStatus, Inbox, InboxKind
from inbox.providers.email import EmailAdapter
from inbox.sandbox.payloads import whatsapp_message
from tests.email.mails import plain_mail


def store(inbox, n, *, sender=None, body=None):
    """Store a delivery without applying it (as if its task had not run yet)."""
    mail = plain_mail(
        body or f"Message number {n}",
        sender=sender or f"Customer {n} <customer{n}@example.test>",
        message_id=f"<m{n}@example.test>",
        subject=f"Order {n}",
    )
    return accept_delivery(inbox, body=bytes(mail), content_type="message/rfc822").event


def parsing_raises(monkeypatch, marker, error):
    """Parsing a delivery whose raw body contains `marker` raises `error`."""
    real_parse = EmailAdapter.parse

    def parse(self, body, content_type):
        if marker in body:
            raise error
        return real_parse(self, body, content_type)

    monkeypatch.setattr(EmailAdapter, "parse", parse)


def statuses(stored):
    by_pk = dict(InboundEvent.objects.values_list("pk", "status"))
    return [by_pk[event.pk] for event in stored]


@pytest.mark.django_db
def test_a_task_applies_the_deliveries_waiting_with_its_own(email_inbox):
    stored = [store(email_inbox, n) for n in range(5)]

    applied = apply_inbound_events(stored[2].pk, batch_size=20)

    assert [event.pk for event in applied] == [event.pk for event in stored]
    assert statuses(stored) == [InboundEventStatus.PROCESSED] * 5
    assert sorted(Message.objects.values_list("body", flat=True)) == [
        f"Message number {n}" for n in range(5)
    ]
    assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db
def test_the_other_deliveries_own_tasks_then_find_them_applied(email_inbox):
    stored = [store(email_inbox, n) for n in range(3)]
    apply_inbound_events(stored[0].pk, batch_size=20)

    for event in stored[1:]:
        assert apply_inbound_events(event.pk, batch_size=20) == []

    assert Message.objects.count() == 3
    assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db
def test_a_batch_takes_its_own_delivery_and_the_oldest_others_up_to_its_size(email_inbox):
    stored = [store(email_inbox, n) for n in range(5)]

    applied = apply_inbound_events(stored[4].pk, batch_size=3)

    assert [event.pk for event in applied] == [stored[0].pk, stored[1].pk, stored[4].pk]
    assert statuses(stored) == ["processed", "processed", "pending", "pending", "processed"]


@pytest.mark.django_db
def test_an_unreadable_delivery_fails_alone_and_the_rest_of_its_batch_is_applied(email_inbox):
    good = [store(email_inbox, n) for n in range(2)]
    unreadable = accept_delivery(
        email_inbox, body=b"\x00\x01 not a mail", content_type="message/rfc822"
    ).event
    good.append(store(email_inbox, 9))

    apply_inbound_events(good[0].pk, batch_size=20)

    unreadable.refresh_from_db()
    assert unreadable.status == InboundEventStatus.FAILED
    assert unreadable.error
    assert statuses(good) == [InboundEventStatus.PROCESSED] * 3
    assert Message.objects.count() == 3


@pytest.mark.django_db
def test_a_delivery_whose_application_breaks_is_rolled_back_alone(email_inbox, monkeypatch):
    from conversations import services

    real = services.record_inbound_message

    def breaks_on_number_one(inbox, identity, **fields):
        if fields["body"].startswith("Message number 1"):
            raise ValueError("this one cannot be stored")
        return real(inbox, identity, **fields)

    monkeypatch.setattr(services, "record_inbound_message", breaks_on_number_one)
    stored = [store(email_inbox, n) for n in range(3)]

    apply_inbound_events(stored[0].pk, batch_size=20)

    assert statuses(stored) == ["processed", "failed", "processed"]
    assert "cannot be stored" in InboundEvent.objects.get(pk=stored[1].pk).error
    # Nothing of the broken one is left: not its contact's identity, not a conversation.
    assert sorted(Message.objects.values_list("body", flat=True)) == [
        "Message number 0",
        "Message number 2",
    ]
    assert not email_inbox.identities.filter(external_id="customer1@example.test").exists()


@pytest.mark.django_db
def test_a_delivery_that_breaks_its_parser_fails_alone(email_inbox, monkeypatch):
    parsing_raises(monkeypatch, b"Message number 1", KeyError("x-unexpected-header"))
    stored = [store(email_inbox, n) for n in range(3)]

    apply_inbound_events(stored[0].pk, batch_size=20)

    assert statuses(stored) == ["processed", "failed", "processed"]
    assert "KeyError" in InboundEvent.objects.get(pk=stored[1].pk).error


@pytest.mark.django_db
def test_when_a_batch_loses_the_database_its_own_delivery_is_tried_alone(email_inbox, monkeypatch):
    parsing_raises(
        monkeypatch, b"poisoned", OperationalError("server closed the connection unexpectedly")
    )
    poisoned = store(email_inbox, 0, body="poisoned")
    own = store(email_inbox, 1)

    applied = apply_inbound_events(own.pk, batch_size=20)

    assert [event.pk for event in applied] == [own.pk]
    assert statuses([poisoned, own]) == ["pending", "processed"]
    # Alone, the poisoned one stays pending (for the sweeper) and is reported as not applied.
    assert apply_inbound_events(poisoned.pk, batch_size=20) is None
    assert statuses([poisoned]) == ["pending"]


@pytest.mark.django_db(transaction=True)
def test_a_batch_reads_its_senders_and_listeners_once_and_broadcasts_in_one_trip(
    email_inbox, listening_agents, monkeypatch
):
    # Committed for real here: the deliveries wait, as if the worker were busy.
    monkeypatch.setattr("inbox.inbound.enqueue_processing", lambda event_id: None)
    known = [store(email_inbox, n) for n in range(2)]
    apply_inbound_events(known[0].pk, batch_size=20)
    sent = []
    monkeypatch.setattr(events, "send_to_groups", lambda layer, messages: sent.append(messages))

    def queries_for(count, first, batch_size):
        """Queries to apply `count` deliveries of two known customers as their tasks would
        (each delivery's task in turn; in batches, the first task applies them all)."""
        stored = [
            store(
                email_inbox,
                first + n,
                sender=f"Customer {n % 2} <customer{n % 2}@example.test>",
                body=f"Again {first + n}",
            )
            for n in range(count)
        ]
        sent.clear()
        with CaptureQueriesContext(connection) as captured:
            applied = apply_inbound_events(stored[0].pk, batch_size=batch_size)
            for event in stored[len(applied) :]:
                apply_inbound_events(event.pk, batch_size=batch_size)
        assert statuses(stored) == [InboundEventStatus.PROCESSED] * count
        return len(captured)

    one_by_one = queries_for(10, 300, batch_size=1) / 10
    two, twelve = queries_for(2, 100, batch_size=20), queries_for(12, 200, batch_size=20)

    assert len(sent) == 1, "one trip to the channel layer for the whole batch"
    list_frames = [group for group, message in sent[0] if group.startswith("inbox-")]
    assert len(list_frames) == 12 * len(listening_agents)
    # Each more delivery in a batch costs the storing of its message (five statements and
    # their savepoints), not the batch's reads and writes again.
    per_delivery = (twelve - two) / 10
    print("COUNTS", one_by_one, per_delivery, two, twelve)
    assert per_delivery <= 9
    assert one_by_one <= 18
    assert one_by_one - per_delivery >= 9


@pytest.fixture
def whatsapp_inbox(agent):
    inbox = Inbox.objects.create(
        name="Support WhatsApp",
        kind=InboxKind.WHATSAPP,
        provider_config={"phone_number_id": "106540352242922", "waba_id": "102290129340398"},
        provider_secrets={"access_token": "wa-token", "app_secret": "wa-secret"},
    )
    inbox.members.add(agent)
    return inbox


def store_whatsapp(inbox, sender, text, n, *, timestamp=None):
    """Store WhatsApp message `n` without applying it. The provider sending it again is
    the same `n` at another `timestamp`: a delivery of its own with the same message id."""
    body, _headers = whatsapp_message(
        "wa-secret",
        inbox.provider_config["phone_number_id"],
        sender,
        text,
        waba_id=inbox.provider_config["waba_id"],
        message_id=f"wamid.batch-{n}",
        timestamp=timestamp,
    )
    return accept_delivery(inbox, body=body, content_type="application/json").event


@pytest.mark.django_db
def test_a_sender_never_seen_before_starts_a_conversation_without_a_search_for_theirs(
    whatsapp_inbox,
):
    event = store_whatsapp(whatsapp_inbox, "34600111222", "Hola, ¿abrís el domingo?", 1)

    with CaptureQueriesContext(connection) as captured:
        apply_inbound_events(event.pk, batch_size=1)

    message = Message.objects.get(body="Hola, ¿abrís el domingo?")
    assert message.conversation.contact_identity.external_id == "34600111222"
    assert message.conversation.last_message == message
    searches = [
        q["sql"]
        for q in captured
        if q["sql"].startswith("SELECT") and 'FROM "conversations_conversation"' in q["sql"]
    ]
    assert searches == []


@pytest.mark.django_db
def test_two_messages_of_a_new_sender_in_one_batch_share_one_conversation(whatsapp_inbox):
    first = store_whatsapp(whatsapp_inbox, "34600333444", "First question", 2)
    store_whatsapp(whatsapp_inbox, "34600333444", "And a second one", 3)

    apply_inbound_events(first.pk, batch_size=20)

    first_message = Message.objects.get(body="First question")
    second_message = Message.objects.get(body="And a second one")
    assert first_message.conversation_id == second_message.conversation_id
    assert Conversation.objects.filter(inbox=whatsapp_inbox).count() == 1
    assert ContactIdentity.objects.filter(inbox=whatsapp_inbox).count() == 1


@pytest.mark.django_db
def test_a_known_customer_s_message_in_a_batch_costs_only_its_own_writes(
    whatsapp_inbox, monkeypatch
):
    monkeypatch.setattr("inbox.inbound.enqueue_processing", lambda event_id: None)
    senders = ["34600000001", "34600000002"]
    first = [store_whatsapp(whatsapp_inbox, s, "Hola", n) for n, s in enumerate(senders)]
    apply_inbound_events(first[0].pk, batch_size=20)
    conversations = {c.contact_identity.external_id: c for c in Conversation.objects.all()}

    def queries_for(count, start):
        stored = [
            store_whatsapp(whatsapp_inbox, senders[n % 2], f"Again {start + n}", start + n)
            for n in range(count)
        ]
        with CaptureQueriesContext(connection) as captured:
            apply_inbound_events(stored[0].pk, batch_size=20)
        assert statuses(stored) == [InboundEventStatus.PROCESSED] * count
        return len(captured)

    two, twelve = queries_for(2, 100), queries_for(12, 200)

    # Its savepoints, the insert, the conversation's update and the live event: whether it
    # was stored before and which conversation it goes to are read once for the batch.
    assert (twelve - two) / 10 <= 7
    for sender, conversation in conversations.items():
        assert conversation.messages.count() == 1 + 7
        assert Conversation.objects.filter(contact_identity__external_id=sender).count() == 1


@pytest.mark.django_db
def test_a_message_sent_again_within_one_batch_is_stored_once(whatsapp_inbox):
    first = store_whatsapp(whatsapp_inbox, "34600555666", "Only once", 7, timestamp=1)
    again = store_whatsapp(whatsapp_inbox, "34600555666", "Only once", 7, timestamp=2)

    apply_inbound_events(first.pk, batch_size=20)

    assert statuses([first, again]) == [InboundEventStatus.PROCESSED] * 2
    assert Message.objects.filter(external_id="wamid.batch-7").count() == 1


@pytest.mark.django_db
def test_a_customer_s_message_goes_to_their_most_recent_active_conversation(
    whatsapp_inbox, monkeypatch
):
    monkeypatch.setattr("inbox.inbound.enqueue_processing", lambda event_id: None)
    apply_inbound_events(store_whatsapp(whatsapp_inbox, "34600777888", "One", 10).pk, batch_size=1)
    older = Conversation.objects.get()
    older.status = "snoozed"
    older.save(update_fields=["status"])
    newer = Conversation.objects.create(
        inbox=whatsapp_inbox,
        channel=whatsapp_inbox.kind,
        contact=older.contact,
        contact_identity=older.contact_identity,
        status="open",
    )
    stored = [store_whatsapp(whatsapp_inbox, "34600777888", f"Two {n}", 11 + n) for n in range(2)]

    apply_inbound_events(stored[0].pk, batch_size=20)

    assert list(newer.messages.order_by("pk").values_list("body", flat=True)) == ["Two 0", "Two 1"]
    older.refresh_from_db()
    assert older.status == "snoozed"


@pytest.mark.django_db
def test_a_rolled_back_delivery_leaves_no_conversation_for_the_next_in_its_batch(
    whatsapp_inbox, monkeypatch
):
    from conversations import services

    real = services.record_inbound_message

    def breaks_after_storing(inbox, identity, **fields):
        result = real(inbox, identity, **fields)
        if fields["body"] == "Breaks":
            raise ValueError("this one cannot be stored")
        return result

    monkeypatch.setattr(services, "record_inbound_message", breaks_after_storing)
    broken = store_whatsapp(whatsapp_inbox, "34600999000", "Breaks", 20)
    fine = store_whatsapp(whatsapp_inbox, "34600999000", "Fine", 21)

    apply_inbound_events(broken.pk, batch_size=20)

    assert statuses([broken, fine]) == ["failed", "processed"]
    message = Message.objects.get()
    assert message.body == "Fine"
    assert message.conversation.last_message == message
    assert Conversation.objects.get() == message.conversation
