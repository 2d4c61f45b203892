"""Inbound deliveries from providers: stored raw first, applied by a task.

`accept_delivery` is what a webhook does once the signature checks out: one row, committed,
then the answer. `apply_inbound_event` parses the stored bytes with the inbox's adapter
and applies every message and receipt in them. Both are idempotent: the same delivery
stored again is the same row, and a message the provider repeats is stored once.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contacts.models import ConsentState
from contacts.services import InvalidPhoneNumber, get_or_create_identity, record_consent
from conversations import services as conversation_services
from conversations.models import Conversation, Message
from inbox.models import InboundEvent, InboundEventStatus
from inbox.providers import adapter_for
from inbox.providers.base import PayloadInvalid

logger = logging.getLogger(__name__)

CONSENT_FROM_KEYWORD = {"stop": ConsentState.OPTED_OUT, "start": ConsentState.OPTED_IN}


@dataclass(frozen=True)
class Accepted:
    event: InboundEvent
    created: bool


def accept_delivery(inbox, *, body, content_type, delivery_key=None):
    """Store a delivery once and have a task apply it after commit.

    A repeat of a stored delivery (same key) stores nothing and enqueues nothing. If the
    task cannot be enqueued (Redis down), the event waits for the sweeper.
    """
    if delivery_key is None:
        delivery_key = adapter_for(inbox).delivery_key(body, content_type)
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                inbox=inbox,
                delivery_key=delivery_key[:200],
                body=bytes(body),
                content_type=(content_type or "")[:120],
            )
            transaction.on_commit(lambda: enqueue_processing(event.pk))
    except IntegrityError:
        event = InboundEvent.objects.get(inbox=inbox, delivery_key=delivery_key[:200])
        return Accepted(event, created=False)
    return Accepted(event, created=True)


def enqueue_processing(event_id):
    from inbox.tasks import process_inbound_event

    try:
        process_inbound_event.delay(event_id)
    except Exception:  # the broker is down: the sweeper picks the event up later
        logger.warning("Could not enqueue inbound event %s; the sweeper will", event_id)


def apply_inbound_event(event_id):
    """Parse a stored delivery and apply it. Returns the event, processed or failed.

    A delivery that cannot be parsed stays as a failed event with its error, visible in
    the admin and re-processable (set it back to pending) after a fix. When the database
    is unavailable the event stays pending (returns None): the sweeper enqueues it again.
    """
    try:
        with transaction.atomic():
            event = (
                # Only the event: the inbox row stays free for sends and other deliveries.
                InboundEvent.objects.select_for_update(of=("self",))
                .select_related("inbox")
                .filter(pk=event_id)
                .first()
            )
            if event is None or event.status == InboundEventStatus.PROCESSED:
                return event
            event.attempts += 1
            adapter = adapter_for(event.inbox)
            try:
                parsed = adapter.parse(bytes(event.body), event.content_type)
            except PayloadInvalid as error:
                return _fail(event, str(error) or _("The delivery could not be read."))
            for item in parsed.messages:
                _apply_message(event.inbox, item)
            for receipt in parsed.statuses:
                conversation_services.apply_receipt(event.inbox, receipt)
            event.status = InboundEventStatus.PROCESSED
            event.processed_at = timezone.now()
            event.error = ""
            event.save(update_fields=["status", "processed_at", "error", "attempts"])
            return event
    except (OperationalError, InterfaceError):
        # The database went away mid-way: nothing was applied (the transaction is gone), and
        # the delivery is fine. It stays pending; the sweeper enqueues it again. Marking it
        # failed would leave the customer's message unapplied for good.
        logger.warning("Inbound event %s not applied: database unavailable; will retry", event_id)
        return None
    except Exception as error:
        logger.exception("Inbound event %s could not be applied", event_id)
        with transaction.atomic():
            event = InboundEvent.objects.select_for_update().get(pk=event_id)
            event.attempts += 1
            return _fail(event, f"{error.__class__.__name__}: {error}")


def _fail(event, error):
    event.status = InboundEventStatus.FAILED
    event.error = error[:2000]
    event.processed_at = timezone.now()
    event.save(update_fields=["status", "error", "processed_at", "attempts"])
    return event


def _apply_message(inbox, item):
    sender = item.sender
    details = {"name": sender.name, "email": sender.email, "language": sender.language}
    try:
        identity, _created = get_or_create_identity(
            inbox, sender.external_id, phone=sender.phone, **details
        )
    except InvalidPhoneNumber:
        # The message matters more than a number we cannot read.
        identity, _created = get_or_create_identity(inbox, sender.external_id, **details)
    if item.content_attributes.get("is_deleted"):
        # The customer deleted a message they had sent (Instagram): hide it, keep the row.
        return conversation_services.mark_deleted_by_customer(inbox, item.external_id)
    if item.is_echo:
        return conversation_services.record_echo(
            inbox,
            identity,
            body=item.body,
            external_id=item.external_id,
            provider_timestamp=item.timestamp,
        )
    thread, start_new = _email_thread(inbox, identity, item)
    result = conversation_services.record_inbound_message(
        inbox,
        identity,
        body=item.body,
        external_id=item.external_id,
        provider_timestamp=item.timestamp,
        content_attributes=item.content_attributes,
        pending_media=item.media,
        thread=thread,
        start_new_thread=start_new,
    )
    state = CONSENT_FROM_KEYWORD.get(item.consent_keyword)
    if state and result.created:
        record_consent(
            identity.contact,
            inbox.kind,
            state,
            source=_("%(keyword)s keyword") % {"keyword": item.body.strip().upper()[:40]},
        )
    return result.message


def _email_thread(inbox, identity, item):
    """E-mail threads: the reply+ address, then In-Reply-To / References; else a new one."""
    if not inbox.allows_parallel_threads:
        return None, False
    if item.conversation_uuid:
        conversation = Conversation.objects.filter(
            inbox=inbox, uuid=item.conversation_uuid, contact__pk=identity.contact_id
        ).first()
        if conversation is not None:
            return conversation, False
    for ref in item.thread_refs:
        message = (
            Message.objects.filter(inbox=inbox, external_id=ref)
            .select_related("conversation")
            .first()
        )
        if message is not None:
            return message.conversation, False
    return None, True
