"""Contacts: phone numbers, identities, consent and anonymisation."""

import pytest
from django.core.files.base import ContentFile

from contacts.models import Consent, ConsentState, Contact, ContactIdentity
from contacts.services import (
    InvalidPhoneNumber,
    anonymise_contact,
    current_consent,
    get_or_create_identity,
    normalise_phone,
    record_consent,
    update_contact_details,
)
from conversations import services as conversation_services
from conversations.models import Attachment, Conversation, Message
from inbox.models import InboxKind, Role

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+34 600 111 222", None, "+34600111222"),
        ("+34-600-111-222", None, "+34600111222"),
        ("600 111 222", "ES", "+34600111222"),
        ("(415) 555-0132", "US", "+14155550132"),
        ("0039 347 123 4567", "ES", "+393471234567"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw, region, expected):
    assert normalise_phone(raw, region) == expected


def test_an_empty_phone_number_stays_empty():
    assert normalise_phone("") == ""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("call me maybe", "“call me maybe” is not a phone number."),
        ("600 111 222", "“600 111 222” is not a phone number."),
        ("+34 6001", "“+34 6001” is not a possible phone number."),
        ("+1 2025550123456789", "“+1 2025550123456789” is not a possible phone number."),
    ],
)
def test_junk_phone_numbers_are_refused_with_a_readable_reason(raw, reason):
    with pytest.raises(InvalidPhoneNumber) as refused:
        normalise_phone(raw)
    assert str(refused.value) == reason


def test_first_sight_of_an_external_id_creates_identity_and_contact(widget_inbox):
    identity, created = get_or_create_identity(
        widget_inbox,
        "visitor:abc",
        name="Emma Clarke",
        email="emma@example.net",
        phone="+44 20 7946 0958",
        language="en-gb-long-tag",
    )

    assert created is True
    assert identity.inbox == widget_inbox
    assert identity.display_name == "Emma Clarke"
    contact = identity.contact
    assert (contact.name, contact.email, contact.phone) == (
        "Emma Clarke",
        "emma@example.net",
        "+442079460958",
    )
    assert contact.language == "en-gb-lo"


def test_get_or_create_identity_is_idempotent(widget_inbox):
    first, first_created = get_or_create_identity(widget_inbox, "visitor:abc", name="Emma")
    again, again_created = get_or_create_identity(widget_inbox, "visitor:abc", name="Someone")

    assert (first_created, again_created) == (True, False)
    assert again.pk == first.pk
    assert again.contact.name == "Emma"
    assert ContactIdentity.objects.count() == 1
    assert Contact.objects.count() == 1


def test_same_external_id_on_two_inboxes_is_two_identities(widget_inbox, other_inbox):
    on_widget, _ = get_or_create_identity(widget_inbox, "visitor:abc")
    on_other, created = get_or_create_identity(other_inbox, "visitor:abc")

    assert created is True
    assert on_widget.pk != on_other.pk
    assert ContactIdentity.objects.count() == 2


def test_identity_with_a_junk_phone_number_creates_nothing(widget_inbox):
    with pytest.raises(InvalidPhoneNumber):
        get_or_create_identity(widget_inbox, "wa:1", phone="not a number")

    assert not Contact.objects.exists()
    assert not ContactIdentity.objects.exists()


def test_update_contact_details_changes_only_what_was_given(visitor):
    contact = visitor.contact
    before = contact.updated_at

    update_contact_details(contact, email="vera@example.org")
    contact.refresh_from_db()

    assert contact.name == "Vera Visitor"
    assert contact.email == "vera@example.org"
    assert contact.updated_at > before


def test_consent_is_unknown_until_recorded(visitor):
    assert current_consent(visitor.contact, InboxKind.WHATSAPP) is None


def test_consent_history_is_append_only_and_the_latest_wins(visitor, make_user):
    contact = visitor.contact
    agent = make_user(Role.AGENT)
    opted_in = record_consent(
        contact, InboxKind.WHATSAPP, ConsentState.OPTED_IN, source="Checkout form"
    )
    record_consent(contact, InboxKind.WHATSAPP, ConsentState.OPTED_OUT, source="STOP keyword")
    assert current_consent(contact, InboxKind.WHATSAPP) == ConsentState.OPTED_OUT

    record_consent(
        contact, InboxKind.WHATSAPP, ConsentState.OPTED_IN, source="Phone call", user=agent
    )

    assert current_consent(contact, InboxKind.WHATSAPP) == ConsentState.OPTED_IN
    history = list(
        Consent.objects.filter(contact=contact).order_by("pk").values_list("state", "source")
    )
    assert history == [
        ("opted_in", "Checkout form"),
        ("opted_out", "STOP keyword"),
        ("opted_in", "Phone call"),
    ]
    opted_in.refresh_from_db()
    assert opted_in.state == ConsentState.OPTED_IN


def test_consent_on_one_channel_does_not_answer_for_another(visitor):
    record_consent(
        visitor.contact, InboxKind.WHATSAPP, ConsentState.OPTED_OUT, source="STOP keyword"
    )

    assert current_consent(visitor.contact, InboxKind.TELEGRAM) is None


def test_an_unknown_consent_state_is_refused(visitor):
    with pytest.raises(ValueError, match="Unknown consent state"):
        record_consent(visitor.contact, InboxKind.WHATSAPP, "maybe", source="Guess")

    assert not Consent.objects.exists()


def test_anonymise_contact_removes_personal_data_and_keeps_the_conversation(
    widget_inbox, agent, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    identity, _ = get_or_create_identity(
        widget_inbox,
        "user:emma-42",
        name="Emma Clarke",
        email="emma@example.net",
        phone="+34600111222",
        language="en",
    )
    contact = identity.contact
    contact.custom_attributes = {"plan": "gold"}
    contact.save(update_fields=["custom_attributes"])
    record_consent(contact, InboxKind.WHATSAPP, ConsentState.OPTED_IN, source="Checkout form")
    inbound = conversation_services.record_inbound_message(
        widget_inbox, identity, body="My address is 12 Privet Drive"
    ).message
    attachment = Attachment(
        message=inbound, content_type="image/png", size=4, original_name="passport.png"
    )
    attachment.file.save("ignored", ContentFile(b"\x89PNG"), save=True)
    stored_file = tmp_path / attachment.file.name
    assert stored_file.exists()
    conversation = inbound.conversation
    reply = conversation_services.send_reply(agent, conversation, "Thanks, Emma!")

    anonymise_contact(agent, contact)

    contact.refresh_from_db()
    assert (contact.name, contact.email, contact.phone, contact.language) == ("", "", "", "")
    assert contact.custom_attributes == {}
    assert contact.anonymised_at is not None
    assert contact.display_name == "Deleted contact"
    identity.refresh_from_db()
    assert identity.external_id.startswith("anonymised:")
    assert "emma" not in identity.external_id
    assert identity.display_name == ""
    assert not Consent.objects.filter(contact=contact).exists()

    inbound.refresh_from_db()
    assert inbound.body == ""
    assert inbound.is_deleted is True
    assert not Attachment.objects.exists()
    assert not stored_file.exists()
    assert Conversation.objects.filter(pk=conversation.pk, contact=contact).exists()
    assert Message.objects.get(pk=reply.pk).body == "Thanks, Emma!"


def test_anonymised_visitor_is_a_stranger_when_they_come_back(widget_inbox, agent, visitor):
    anonymise_contact(agent, visitor.contact)

    identity, created = get_or_create_identity(widget_inbox, "visitor:fixture")

    assert created is True
    assert identity.contact_id != visitor.contact_id
