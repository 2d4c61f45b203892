"""Actions on contacts. Every write to contacts goes through here."""

import uuid

import phonenumbers
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contacts.models import (
    Consent,
    ConsentState,
    Contact,
    ContactChange,
    ContactIdentity,
    ContactNote,
)


class ContactRefused(ValueError):
    """An edit that cannot be made; the message says why, for the user."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


EDITABLE_FIELDS = ("name", "email", "phone")
MAX_ATTRIBUTES = 50


class InvalidPhoneNumber(ValueError):
    pass


def normalise_phone(raw, region=None):
    """Return the number in E.164, or raise InvalidPhoneNumber with a readable reason."""
    if not raw:
        return ""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(_("“%(raw)s” is not a phone number.") % {"raw": raw}) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber(_("“%(raw)s” is not a possible phone number.") % {"raw": raw})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def get_or_create_identity(inbox, external_id, *, name="", email="", phone="", language=""):
    """The identity for `external_id` on `inbox`, creating it on first sight.

    One person may write on several channels: a new identity whose phone number (E.164)
    or e-mail address matches a known contact joins that contact; otherwise it gets a
    contact of its own. Safe under concurrency: the (inbox, external_id) unique
    constraint decides who wins.
    """
    identity = (
        ContactIdentity.objects.select_related("contact")
        .filter(inbox=inbox, external_id=external_id)
        .first()
    )
    if identity:
        return identity, False
    return create_identity(
        inbox, external_id, name=name, email=email, phone=phone, language=language
    )


def create_identity(inbox, external_id, *, name="", email="", phone="", language=""):
    """`get_or_create_identity` for a caller that has looked the identity up and found none:
    returns (identity, True), or (the identity another process stored first, False)."""
    phone = normalise_phone(phone) if phone else ""
    email = (email or "").strip().lower()
    try:
        with transaction.atomic():
            contact = _known_contact(phone=phone, email=email)
            if contact is None:
                contact = Contact.objects.create(
                    name=name[:200], email=email, phone=phone, language=language[:8]
                )
            identity = ContactIdentity.objects.create(
                contact=contact, inbox=inbox, external_id=external_id, display_name=name[:200]
            )
    except IntegrityError:
        identity = ContactIdentity.objects.select_related("contact").get(
            inbox=inbox, external_id=external_id
        )
        return identity, False
    return identity, True


def _known_contact(*, phone, email):
    """The oldest contact (not anonymised) with this phone number or e-mail address."""
    contacts = Contact.objects.filter(anonymised_at__isnull=True).order_by("pk")
    if phone:
        match = contacts.filter(phone=phone).first()
        if match:
            return match
    if email:
        return contacts.filter(email__iexact=email).first()
    return None


def update_contact_details(contact, *, name=None, email=None):
    """Fill in details a customer gave about themselves (e.g. in the widget form)."""
    changed = []
    if name is not None and name != contact.name:
        contact.name = name[:200]
        changed.append("name")
    if email is not None and email != contact.email:
        contact.email = email
        changed.append("email")
    if changed:
        contact.updated_at = timezone.now()
        contact.save(update_fields=[*changed, "updated_at"])
    return contact


def _publish_contact(contact):
    """Every inbox where the contact has a conversation shows the new details live."""
    from channels_app.events import publish
    from conversations.models import Conversation

    latest = {}
    for conversation in Conversation.objects.filter(contact=contact).order_by("-last_message_at"):
        latest.setdefault(conversation.inbox_id, conversation)
    for conversation in latest.values():
        publish("contact.updated", conversation=conversation)


def _log_change(user, contact, field, old, new):
    ContactChange.objects.create(
        contact=contact, actor=user, field=field, from_value=old or "", to_value=new or ""
    )


@transaction.atomic
def edit_contact(user, contact, field, value):
    """Change a contact's name, e-mail or phone, validated, logged and live."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    if field not in EDITABLE_FIELDS:
        raise ContactRefused(_("That detail cannot be edited."))
    value = (value or "").strip()
    if field == "email" and value:
        try:
            validate_email(value)
        except ValidationError as exc:
            raise ContactRefused(
                _("“%(value)s” is not an e-mail address.") % {"value": value}
            ) from exc
    if field == "phone" and value:
        try:
            value = normalise_phone(value)
        except InvalidPhoneNumber as exc:
            raise ContactRefused(str(exc)) from exc
    if field == "name":
        value = value[:200]
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    old = getattr(contact, field)
    if old == value:
        return contact
    setattr(contact, field, value)
    contact.updated_at = timezone.now()
    contact.save(update_fields=[field, "updated_at"])
    _log_change(user, contact, field, old, value)
    _publish_contact(contact)
    return contact


@transaction.atomic
def set_attribute(user, contact, key, value):
    """Set (or, with an empty value, remove) one custom attribute."""
    key = (key or "").strip()[:60]
    value = (value or "").strip()[:500]
    if not key:
        raise ContactRefused(_("Give the attribute a name."))
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    attributes = dict(contact.custom_attributes)
    old = str(attributes.get(key, ""))
    if value:
        if key not in attributes and len(attributes) >= MAX_ATTRIBUTES:
            raise ContactRefused(
                _("A contact can have at most %(n)s attributes.") % {"n": MAX_ATTRIBUTES}
            )
        attributes[key] = value
    else:
        attributes.pop(key, None)
    if old == value:
        return contact
    contact.custom_attributes = attributes
    contact.updated_at = timezone.now()
    contact.save(update_fields=["custom_attributes", "updated_at"])
    _log_change(user, contact, key, old, value)
    _publish_contact(contact)
    return contact


def _label_names(contact):
    return ", ".join(contact.labels.order_by("name").values_list("name", flat=True))


@transaction.atomic
def add_contact_label(user, contact, label):
    """Put a label on a contact; logged as the contact's labels before and after, and live.

    Labels are shared by the whole workspace, like on conversations: anyone who may see
    the contact may use any of them.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if contact.labels.filter(pk=label.pk).exists():
        return contact
    before = _label_names(contact)
    contact.labels.add(label)
    _touch_labels(user, contact, before)
    return contact


@transaction.atomic
def remove_contact_label(user, contact, label):
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if not contact.labels.filter(pk=label.pk).exists():
        return contact
    before = _label_names(contact)
    contact.labels.remove(label)
    _touch_labels(user, contact, before)
    return contact


def _touch_labels(user, contact, before):
    # The whole set is logged, so "set labels to billing, vip" reads right in the panel's
    # change list for an addition and a removal alike.
    contact.updated_at = timezone.now()
    contact.save(update_fields=["updated_at"])
    _log_change(user, contact, "labels", before, _label_names(contact))
    _publish_contact(contact)


@transaction.atomic
def add_contact_note(user, contact, body):
    body = (body or "").strip()
    if not body:
        raise ContactRefused(_("Write the note before saving it."))
    note = ContactNote.objects.create(contact=contact, author=user, body=body[:4000])
    _publish_contact(contact)
    return note


def record_consent(contact, channel, state, *, source, user=None):
    if state not in ConsentState.values:
        raise ValueError(f"Unknown consent state {state!r}")
    return Consent.objects.create(
        contact=contact, channel=channel, state=state, source=source, recorded_by=user
    )


def current_consent(contact, channel):
    """The latest consent state for this channel kind, or None if never recorded."""
    latest = (
        Consent.objects.filter(contact=contact, channel=channel)
        .order_by("-created_at", "-id")
        .values_list("state", flat=True)
        .first()
    )
    return latest


@transaction.atomic
def anonymise_contact(user, contact):
    """Remove a contact's personal data; their conversations remain for the record.

    The contact's name, addresses, attributes and channel identities are erased, and the
    text and files the customer sent are removed from their messages. Replies, notes and
    the activity log stay so the conversation's history and reports are intact.
    """
    from conversations.models import Attachment, Direction, Message

    contact.name = ""
    contact.email = ""
    contact.phone = ""
    contact.custom_attributes = {}
    contact.language = ""
    contact.time_zone = ""
    contact.anonymised_at = timezone.now()
    contact.updated_at = contact.anonymised_at
    contact.save(
        update_fields=[
            "name",
            "email",
            "phone",
            "custom_attributes",
            "language",
            "time_zone",
            "anonymised_at",
            "updated_at",
        ]
    )
    for identity in contact.identities.all():
        identity.external_id = f"anonymised:{uuid.uuid4()}"
        identity.display_name = ""
        identity.save(update_fields=["external_id", "display_name"])
    inbound = Message.objects.filter(conversation__contact=contact, direction=Direction.INBOUND)
    for attachment in Attachment.objects.filter(message__in=inbound):
        attachment.file.delete(save=False)
        attachment.delete()
    inbound.update(body="", content_attributes={}, is_deleted=True)
    contact.consents.all().delete()
    return contact
