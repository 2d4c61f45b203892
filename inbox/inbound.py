"""Inbound deliveries from providers: stored raw first, applied by a task.

`accept_delivery` is what a webhook does once the signature checks out: one row, committed,
then the answer. `apply_inbound_events` parses the stored bytes with the inbox's adapter
and applies every message and receipt in them. Both are idempotent: the same delivery
stored again is the same row, and a message the provider repeats is stored once.
"""

import logging
from collections import ChainMap
from dataclasses import dataclass

from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app import events
from contacts.models import ConsentState, ContactIdentity
from contacts.services import InvalidPhoneNumber, create_identity, record_consent
from conversations import services as conversation_services
from conversations.models import Conversation, Message
from inbox.models import InboundEvent, InboundEventStatus, Inbox
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
    fields = {
        "inbox": inbox,
        "delivery_key": delivery_key[:200],
        "body": bytes(body),
        "content_type": (content_type or "")[:120],
    }
    try:
        if transaction.get_connection().in_atomic_block:
            # Inside the caller's transaction: a savepoint keeps a repeat from breaking it.
            with transaction.atomic():
                event = InboundEvent.objects.create(**fields)
        else:
            # One statement commits by itself: no BEGIN and COMMIT round trips for a webhook.
            event = InboundEvent.objects.create(**fields)
        # Enqueued once the row is committed: at once here, or when the caller's commits.
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
    applied = apply_inbound_events(event_id, batch_size=1)
    if applied is None:
        return None
    return applied[0] if applied else InboundEvent.objects.filter(pk=event_id).first()


def apply_inbound_events(event_id, *, batch_size):
    """Apply the delivery `event_id` and up to `batch_size - 1` other pending ones, oldest
    first, in one transaction; their live updates go out together after it commits.

    This is what a worker does for a delivery's task: under load deliveries queue up, and
    taking them in a batch spares per delivery a commit, the inbox's load, the known
    senders' lookup and the broadcast's queries (a delivery's own task then finds it
    applied). Each delivery is applied in a savepoint, so one that fails is recorded as
    failed alone. Events another worker is applying are skipped: that worker has them.

    Returns the events applied or failed here, or None when the database went away:
    nothing was applied and the deliveries stay pending for the sweeper.
    """
    try:
        with events.batched_broadcasts(), transaction.atomic():
            return _apply_batch(_claim(event_id, batch_size))
    except (OperationalError, InterfaceError):
        if batch_size > 1:
            # Perhaps not the database but one delivery of the batch that breaks the
            # connection: the named one alone still gets its chance, as do the others in
            # their own tasks.
            return apply_inbound_events(event_id, batch_size=1)
        # Nothing was applied (the transaction is gone), and the delivery is fine. It stays
        # pending; the sweeper enqueues it again. Marking it failed would leave the
        # customer's message unapplied for good.
        logger.warning("Inbound event %s not applied: database unavailable; will retry", event_id)
        return None


def _apply_batch(batch):
    inboxes = Inbox.objects.in_bulk({event.inbox_id for event in batch})
    parsed = {}
    for event in batch:
        event.inbox = inboxes[event.inbox_id]
        event.attempts += 1
        try:
            parsed[event.pk] = adapter_for(event.inbox).parse(bytes(event.body), event.content_type)
        except PayloadInvalid as error:
            _fail(event, str(error) or _("The delivery could not be read."))
        except (OperationalError, InterfaceError):
            raise
        except Exception as error:  # a parser's bug must not hold back the rest of the batch
            logger.exception("Inbound event %s could not be parsed", event.pk)
            _fail(event, f"{error.__class__.__name__}: {error}")
    known = _read_once(
        [
            (event.inbox, item)
            for event in batch
            if event.pk in parsed
            for item in parsed[event.pk].messages
        ]
    )
    applied = []
    for event in batch:
        if event.pk not in parsed:
            continue
        error = _apply_one(event, parsed[event.pk], known)
        if error is None:
            applied.append(event)
        else:
            _fail(event, error)
    if applied:
        now = timezone.now()
        InboundEvent.objects.filter(pk__in=[event.pk for event in applied]).update(
            status=InboundEventStatus.PROCESSED,
            processed_at=now,
            error="",
            attempts=F("attempts") + 1,
        )
        for event in applied:
            event.status, event.processed_at, event.error = InboundEventStatus.PROCESSED, now, ""
    return batch


def _claim(event_id, batch_size):
    """Lock the event named (unless applied, or being applied elsewhere) and the oldest
    other pending ones, skipping those locked by another worker."""
    claimed = list(
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(pk=event_id)
        .exclude(status=InboundEventStatus.PROCESSED)
    )
    if batch_size > len(claimed):
        claimed += (
            InboundEvent.objects.select_for_update(skip_locked=True)
            .filter(status=InboundEventStatus.PENDING)
            .exclude(pk=event_id)
            .order_by("received_at", "pk")[: batch_size - len(claimed)]
        )
    return sorted(claimed, key=lambda event: (event.received_at, event.pk))


@dataclass(frozen=True)
class Known:
    """What a batch reads once for all its deliveries, so that a message costs only its
    own writes: the senders already stored, by (inbox id, external id); the messages
    already stored, by (inbox id, external id); and each of those senders' active
    conversation on a messaging channel, locked, by (inbox id, identity id).

    A delivery reads through a layer of its own (`for_delivery`) and what it adds is kept
    (`keep`) only once its savepoint is released: a delivery rolled back leaves no
    conversation or identity behind that the next one would use.
    """

    identities: dict
    stored: dict
    active: dict

    def for_delivery(self):
        return Known(*(ChainMap({}, mapping) for mapping in self._mappings()))

    def keep(self, layer):
        for mapping, added in zip(self._mappings(), layer._mappings(), strict=True):
            mapping.update(added.maps[0])

    def _mappings(self):
        return (self.identities, self.stored, self.active)


def _read_once(items):
    """`Known` for a batch's (inbox, message) pairs: three queries, whatever its size."""
    identities = {
        (identity.inbox_id, identity.external_id): identity
        for identity in _matching(
            ContactIdentity.objects.select_related("contact"),
            "external_id",
            {(inbox.pk, item.sender.external_id) for inbox, item in items},
        )
    }
    stored = dict.fromkeys(
        _matching(
            Message.objects.values_list("inbox_id", "external_id"),
            "external_id",
            {(inbox.pk, item.external_id) for inbox, item in items if item.external_id},
        ),
        True,
    )
    # E-mail keeps parallel threads and finds a message's by its references instead.
    one_thread = {inbox.pk for inbox, _item in items if not inbox.allows_parallel_threads}
    senders = {
        (identity.inbox_id, identity.pk)
        for identity in identities.values()
        if identity.inbox_id in one_thread
    }
    active = {}
    # Locked in id order, so that two workers' batches take their locks in the same order.
    # A sender's is their most recent, as the lookup of one sender's would choose.
    for conversation in _matching(
        Conversation.objects.select_for_update()
        .filter(status__in=conversation_services.ACTIVE_STATUSES)
        .order_by("pk"),
        "contact_identity_id",
        senders,
    ):
        key = (conversation.inbox_id, conversation.contact_identity_id)
        active[key] = max(
            active.get(key, conversation), conversation, key=lambda c: (c.last_message_at, c.pk)
        )
    return Known(identities, stored, active)


def _matching(queryset, field, pairs):
    """`queryset` narrowed, in one query, to the rows whose (inbox id, `field`) is one of
    `pairs`; no query at all when there are none."""
    by_inbox = {}
    for inbox_id, value in pairs:
        by_inbox.setdefault(inbox_id, set()).add(value)
    if not by_inbox:
        return queryset.none()
    match = Q()
    for inbox_id, values in by_inbox.items():
        match |= Q(inbox_id=inbox_id, **{f"{field}__in": values})
    return queryset.filter(match)


def _apply_one(event, parsed, known):
    """Apply one parsed event in its own savepoint. Returns None, or why it failed.

    A database error that is not the event's own (the connection is gone) propagates, so
    the whole batch stays pending.
    """
    learned = known.for_delivery()
    try:
        with transaction.atomic():
            for item in parsed.messages:
                _apply_message(event.inbox, item, learned)
            for receipt in parsed.statuses:
                conversation_services.apply_receipt(event.inbox, receipt)
        known.keep(learned)
    except (OperationalError, InterfaceError):
        raise
    except Exception as error:
        logger.exception("Inbound event %s could not be applied", event.pk)
        return f"{error.__class__.__name__}: {error}"
    return None


def _fail(event, error):
    event.status = InboundEventStatus.FAILED
    event.error = error[:2000]
    event.processed_at = timezone.now()
    event.save(update_fields=["status", "error", "processed_at", "attempts"])
    return event


def _apply_message(inbox, item, known):
    sender = item.sender
    identity = known.identities.get((inbox.pk, sender.external_id))
    new_sender = False
    if identity is None:
        identity, new_sender = _new_identity(inbox, sender)
        known.identities[(inbox.pk, sender.external_id)] = identity
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
    if item.external_id and (inbox.pk, item.external_id) in known.stored:
        return None  # the provider sent it again: stored once already
    thread, start_new = _email_thread(inbox, identity, item)
    # A sender never seen before has no conversation to look for: theirs starts here.
    start_new = start_new or new_sender
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
        active_conversation=known.active.get((inbox.pk, identity.pk)),
        repeat_checked=True,
    )
    if item.external_id:
        known.stored[(inbox.pk, item.external_id)] = True
    if result.created and not inbox.allows_parallel_threads:
        known.active[(inbox.pk, identity.pk)] = result.message.conversation
    state = CONSENT_FROM_KEYWORD.get(item.consent_keyword)
    if state and result.created:
        record_consent(
            identity.contact,
            inbox.kind,
            state,
            source=_("%(keyword)s keyword") % {"keyword": item.body.strip().upper()[:40]},
        )
    return result.message


def _new_identity(inbox, sender):
    """The identity of a sender the batch's lookup did not find, and whether it is new
    (False: another worker stored it first)."""
    details = {"name": sender.name, "email": sender.email, "language": sender.language}
    try:
        return create_identity(inbox, sender.external_id, phone=sender.phone, **details)
    except InvalidPhoneNumber:
        # The message matters more than a number we cannot read.
        return create_identity(inbox, sender.external_id, **details)


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
