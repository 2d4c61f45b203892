"""Actions on conversations and messages. Services are the only writers.

Each action runs in one transaction, validates user input before writing, and publishes
its live event and enqueues its follow-up tasks on commit.
"""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from channels_app.events import publish
from conversations import attachments, channel_rules
from conversations.access import users_who_can_see
from conversations.models import (
    DELIVERY_ORDER,
    Activity,
    ActivityField,
    AuthorType,
    CannedResponse,
    Conversation,
    ConversationRead,
    DeliveryStatus,
    Direction,
    Mention,
    Message,
    MessageKind,
    Priority,
    Status,
)
from inbox.providers.base import OutcomeUnknown, PermanentSendError, RetryableSendError

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = (Status.OPEN, Status.PENDING, Status.SNOOZED)


class ActionRefused(Exception):
    """An action the user asked for cannot be done; the message says why, for the user."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass
class InboundResult:
    message: Message
    created: bool


def _active_conversation(inbox, identity, lock=False):
    queryset = Conversation.objects.filter(
        inbox=inbox, contact_identity=identity, status__in=ACTIVE_STATUSES
    ).order_by("-last_message_at", "-pk")
    if lock:
        queryset = queryset.select_for_update()
    return queryset.first()


def _open_conversation_for(inbox, identity, now):
    """The conversation a new customer message belongs to.

    The active one if there is one; else the most recent one, reopened, if it was
    resolved less than CONVERSATION_REOPEN_WINDOW ago; else a new one. On messaging
    channels two first messages at once cannot start two conversations: the partial
    unique constraint lets one insert win and the other reads the winner.
    """
    conversation = _active_conversation(inbox, identity, lock=True)
    if conversation is not None:
        return conversation
    recent = (
        Conversation.objects.select_for_update()
        .filter(
            inbox=inbox,
            contact_identity=identity,
            status=Status.RESOLVED,
            resolved_at__gte=now - settings.CONVERSATION_REOPEN_WINDOW,
        )
        .order_by("-resolved_at", "-pk")
        .first()
    )
    if recent is not None and not inbox.allows_parallel_threads:
        _reopen_by_system(recent, reason="customer_message")
        return recent
    return _start_conversation(inbox, identity, now)


def _start_conversation(inbox, identity, now, *, contested=True):
    """A new open conversation. `contested`: another process may be starting one for the
    same identity (the partial unique constraint lets one win). It cannot for an identity
    created in this transaction, nor on e-mail, which allows parallel threads: those need
    no savepoint to recover from losing."""
    fields = {
        "inbox": inbox,
        "channel": inbox.kind,
        "contact_id": identity.contact_id,
        "contact_identity": identity,
        "status": Status.OPEN,
        "created_at": now,
        "last_message_at": now,
    }
    if not contested:
        return Conversation.objects.create(**fields)
    try:
        with transaction.atomic():
            return Conversation.objects.create(**fields)
    except IntegrityError:
        conversation = _active_conversation(inbox, identity, lock=True)
        if conversation is None:
            raise
        return conversation


def record_inbound_message(
    inbox,
    identity,
    *,
    body,
    external_id=None,
    provider_timestamp=None,
    content_attributes=None,
    files=(),
    pending_media=(),
    thread=None,
    start_new_thread=False,
    active_conversation=None,
    repeat_checked=False,
):
    """Store a customer's message once, in the conversation it belongs to, and go live.

    A message the provider sends again (same external id) is not stored twice: the
    database's unique constraint decides and the first copy is returned. `files` are
    uploads (the widget's visitor attaching files), checked before anything is written;
    `pending_media` are provider files (InboundMedia) that a task fetches afterwards, shown
    as placeholders until then. E-mail names its thread: `thread` is the conversation a
    reply belongs to, `start_new_thread` a new subject (or a sender never seen before, who
    has no conversation to look for).

    The inbound batch reads for all its messages at once what each would look up:
    `active_conversation` is the identity's active conversation, already locked by the
    caller, and `repeat_checked` says the external id was found not stored (the insert's
    constraint still decides a race with another worker).
    """
    checked_files = _check_files(files)
    # No savepoint of its own: inside a caller's transaction (the inbound batch gives each
    # delivery a savepoint) a failure here rolls back with the caller's block.
    with transaction.atomic(savepoint=False):
        now = timezone.now()
        if external_id and not repeat_checked:
            existing = Message.objects.filter(inbox=inbox, external_id=external_id).first()
            if existing:
                return InboundResult(existing, created=False)
        if active_conversation is not None:
            conversation = active_conversation
        elif thread is not None:
            conversation = Conversation.objects.select_for_update().get(pk=thread.pk)
            if conversation.status == Status.RESOLVED:
                _reopen_by_system(conversation, reason="customer_message")
        elif start_new_thread:
            conversation = _start_conversation(inbox, identity, now, contested=False)
        else:
            conversation = _open_conversation_for(inbox, identity, now)
        message = _create_once(
            conversation,
            direction=Direction.INBOUND,
            author_type=AuthorType.CONTACT,
            body=body,
            content_attributes=content_attributes or {},
            external_id=external_id or None,
            provider_timestamp=provider_timestamp,
            created_at=now,
        )
        if message is None:
            return InboundResult(Message.objects.get(inbox=inbox, external_id=external_id), False)
        attachments.store(message, checked_files)
        fetches = attachments.store_provider_media(message, pending_media)

        changed = ["last_message_at", "last_message", "last_customer_message_at"]
        conversation.last_message_at = now
        conversation.last_message = message
        conversation.last_customer_message_at = now
        if conversation.waiting_since is None:
            conversation.waiting_since = now
            changed.append("waiting_since")
        if conversation.status == Status.SNOOZED:
            _reopen_by_system(conversation, reason="customer_message")
        conversation.save(update_fields=changed)
        publish(
            "message.created",
            message=message,
            visitor=inbox.kind == "web_widget",
        )
        if fetches:
            from conversations.tasks import fetch_inbound_media

            for attachment in fetches:
                transaction.on_commit(lambda pk=attachment.pk: fetch_inbound_media.delay(pk))
        return InboundResult(message, created=True)


def _create_once(conversation, **fields):
    """A provider's message, or None when one with its id is already stored: the
    (inbox, external_id) constraint decides, never a check before the insert."""
    try:
        with transaction.atomic():
            return Message.objects.create(
                conversation=conversation,
                inbox_id=conversation.inbox_id,
                kind=MessageKind.TEXT,
                **fields,
            )
    except IntegrityError:
        return None


@transaction.atomic
def mark_deleted_by_customer(inbox, external_id):
    """The customer deleted a message on their app: it shows as removed here too."""
    message = (
        Message.objects.select_for_update()
        .filter(inbox=inbox, external_id=external_id, direction=Direction.INBOUND)
        .first()
    )
    if message is None or message.is_deleted:
        return message
    message.is_deleted = True
    message.save(update_fields=["is_deleted"])
    publish("message.updated", message=message)
    return message


@transaction.atomic
def record_echo(inbox, identity, *, body, external_id, provider_timestamp=None):
    """One of our messages that the provider echoes back (sent from elsewhere, e.g. the
    business's phone). Recorded as outbound, never as the customer's; once only."""
    if Message.objects.filter(inbox=inbox, external_id=external_id).exists():
        return None
    now = timezone.now()
    conversation = _open_conversation_for(inbox, identity, now)
    message = _create_once(
        conversation,
        direction=Direction.OUTBOUND,
        author_type=AuthorType.SYSTEM,
        body=body,
        content_attributes={"echo": True},
        external_id=external_id,
        provider_timestamp=provider_timestamp,
        created_at=now,
        status=DeliveryStatus.SENT,
        status_changed_at=now,
    )
    if message is None:
        return None
    conversation.last_message_at = now
    conversation.last_message = message
    conversation.save(update_fields=["last_message_at", "last_message"])
    publish("message.created", message=message)
    return message


def _check_files(files):
    try:
        return attachments.check_uploads(files or ())
    except attachments.UploadRefused as refusal:
        raise ActionRefused(refusal.message) from refusal


def _clean_body(body, *, may_be_empty=False):
    """The text of a message, checked. It may be empty only when files go with it."""
    body = (body or "").strip()
    if not body and not may_be_empty:
        raise ActionRefused(_("Write a message before sending."))
    if len(body) > settings.REPLY_MAX_LENGTH:
        raise ActionRefused(
            _("This message is too long: %(length)s characters, at most %(max)s.")
            % {"length": len(body), "max": settings.REPLY_MAX_LENGTH}
        )
    return body


@transaction.atomic
def send_reply(user, conversation, body, files=()):
    """Save an agent's reply (text, files or both) as queued and have it sent."""
    checked_files = _check_files(files)
    body = _clean_body(body, may_be_empty=bool(checked_files))
    if not conversation.inbox.is_active:
        raise ActionRefused(_("This inbox is disconnected; replies cannot be sent."))
    channel_rules.check_free_text(conversation)
    return _queue_reply(user, conversation, body=body, files=checked_files)


@transaction.atomic
def send_template(user, conversation, template, parameters):
    """Send an approved WhatsApp template, allowed even after the 24-hour window closed."""
    if not conversation.inbox.is_active:
        raise ActionRefused(_("This inbox is disconnected; replies cannot be sent."))
    if template.inbox_id != conversation.inbox_id or template.status != "APPROVED":
        raise ActionRefused(_("This template is not approved for this inbox."))
    parameters = [str(p).strip() for p in parameters]
    if len(parameters) != template.parameter_count or not all(parameters):
        raise ActionRefused(
            _("Fill in all %(count)s fields of the template “%(name)s”.")
            % {"count": template.parameter_count, "name": template.name}
        )
    channel_rules.check_template(conversation)
    body = template.body_text
    for number, value in enumerate(parameters, start=1):
        body = body.replace("{{" + str(number) + "}}", value)
    return _queue_reply(
        user,
        conversation,
        body=body,
        kind=MessageKind.TEMPLATE,
        content_attributes={
            "template": {
                "name": template.name,
                "language": template.language,
                "parameters": parameters,
            }
        },
    )


def _queue_reply(user, conversation, *, body, files=(), kind=None, content_attributes=None):
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Direction.OUTBOUND,
        kind=kind or MessageKind.TEXT,
        author_type=AuthorType.AGENT,
        author=user,
        body=body,
        content_attributes=content_attributes or {},
        created_at=now,
        status=DeliveryStatus.QUEUED,
        status_changed_at=now,
    )
    attachments.store(message, files)
    conversation.last_message_at = now
    conversation.last_message = message
    conversation.waiting_since = None
    changed = ["last_message_at", "last_message", "waiting_since"]
    if conversation.first_response_at is None:
        conversation.first_response_at = now
        changed.append("first_response_at")
    conversation.save(update_fields=changed)
    publish("message.created", message=message)

    from inbox.tasks import deliver_message

    transaction.on_commit(lambda: deliver_message.delay(message.pk))
    return message


SENDABLE_KINDS = (MessageKind.TEXT, MessageKind.TEMPLATE)


@dataclass
class DeliveryOutcome:
    """What the sending task does next: try this message again later, and/or send the
    conversation's next queued message (messages of one conversation go one at a time)."""

    retry_in: float | None = None
    next_message_id: int | None = None


def deliver_outbound_message(message_id, *, claim=None):
    """Hand a queued reply to its provider: queued → sending → sent, failed or unknown.

    Runs in a task; `claim` is the task's id. Nothing that may have left is sent again:
    a message found in `sending` under the same claim means this task's earlier run died
    mid-call, so its outcome cannot be known (`unknown`, with a Resend button). Retries
    happen only when the provider did not take the message, with backoff and jitter.
    """
    from inbox import rate_limits
    from inbox.providers import adapter_for

    claim = claim or uuid.uuid4().hex
    with transaction.atomic():
        message = (
            # Only the message: locking its inbox too would make every worker's send wait
            # on (and deadlock with) inbound processing of the same inbox.
            Message.objects.select_for_update(of=("self",))
            .select_related("conversation__inbox", "conversation__contact_identity")
            .filter(pk=message_id)
            .first()
        )
        if message is None:
            return DeliveryOutcome()
        if message.status == DeliveryStatus.SENDING and message.send_claim == claim:
            _settle(
                message,
                DeliveryStatus.UNKNOWN,
                error_message=_("Sending stopped midway; the message may not have been delivered."),
            )
            return DeliveryOutcome(next_message_id=next_queued_id(message))
        if message.status != DeliveryStatus.QUEUED:
            return DeliveryOutcome()
        now = timezone.now()
        if message.next_attempt_at and message.next_attempt_at > now:
            return DeliveryOutcome(retry_in=(message.next_attempt_at - now).total_seconds())
        if _earlier_unsent(message):
            # Sent when the earlier one is done, so the customer reads them in order.
            return DeliveryOutcome()
        adapter = adapter_for(message.conversation.inbox)
        wait = rate_limits.wait_before_send(adapter, message)
        if wait > 0:
            return DeliveryOutcome(retry_in=wait)
        message.send_claim = claim
        message.status = DeliveryStatus.SENDING
        message.status_changed_at = now
        message.save(update_fields=["send_claim", "status", "status_changed_at"])
    try:
        result = adapter.send_message(message)
    except RetryableSendError as error:
        return _send_not_taken(message_id, error)
    except PermanentSendError as error:
        _finish_send(message_id, DeliveryStatus.FAILED, error)
    except OutcomeUnknown as error:
        _finish_send(message_id, DeliveryStatus.UNKNOWN, error)
    except Exception:
        logger.exception("Sending message %s failed unexpectedly", message_id)
        _finish_send(
            message_id,
            DeliveryStatus.UNKNOWN,
            OutcomeUnknown(_("Sending failed unexpectedly; it may not have been delivered.")),
        )
    else:
        _record_sent(message_id, result, adapter)
    return DeliveryOutcome(next_message_id=next_queued_id(message))


def _earlier_unsent(message):
    return Message.objects.filter(
        conversation_id=message.conversation_id,
        direction=Direction.OUTBOUND,
        kind__in=SENDABLE_KINDS,
        pk__lt=message.pk,
        status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING),
    ).exists()


def next_queued_id(message):
    return (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            direction=Direction.OUTBOUND,
            kind__in=SENDABLE_KINDS,
            pk__gt=message.pk,
            status=DeliveryStatus.QUEUED,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


@transaction.atomic
def _record_sent(message_id, result, adapter):
    from inbox.models import PendingReceipt

    message = Message.objects.select_for_update().get(pk=message_id)
    if result.external_id:
        # An echo of this very message may have been recorded before the send returned.
        Message.objects.filter(
            inbox_id=message.inbox_id,
            external_id=result.external_id,
            author_type=AuthorType.SYSTEM,
        ).exclude(pk=message.pk).delete()
        message.external_id = result.external_id
        message.save(update_fields=["external_id"])
    if message.status == DeliveryStatus.SENDING:
        # A watermark receipt may already have moved it further: never back.
        _set_status(message, DeliveryStatus.SENT)
    if result.external_id:
        early = PendingReceipt.objects.filter(
            inbox_id=message.inbox_id, external_id=result.external_id
        )
        for receipt in sorted(early, key=lambda r: DELIVERY_ORDER.get(r.status, 99)):
            _apply_receipt_to(message, receipt.status, receipt.error_code, receipt.error_message)
        early.delete()
    publish("message.updated", message=message, visitor=adapter.delivers_through_live_events)


@transaction.atomic
def _send_not_taken(message_id, error):
    """The provider did not take the message: queue it again after a backoff, or give up."""
    message = Message.objects.select_for_update().get(pk=message_id)
    message.send_attempts += 1
    if message.send_attempts >= settings.OUTBOUND_MAX_ATTEMPTS:
        message.save(update_fields=["send_attempts"])
        _settle(
            message,
            DeliveryStatus.FAILED,
            error_code=error.code,
            error_message=_("Not sent after %(count)s tries: %(reason)s")
            % {"count": message.send_attempts, "reason": error.reason},
        )
        return DeliveryOutcome(next_message_id=next_queued_id(message))
    backoff = settings.OUTBOUND_RETRY_BASE_DELAY * 2 ** (message.send_attempts - 1)
    delay = max(error.retry_after or 0, backoff * (0.5 + random.random()))
    delay = min(delay, settings.TASK_MAX_RETRY_DELAY)
    message.status = DeliveryStatus.QUEUED
    message.status_changed_at = timezone.now()
    message.next_attempt_at = message.status_changed_at + timedelta(seconds=delay)
    message.error_code = error.code
    message.error_message = error.reason
    message.save(
        update_fields=[
            "send_attempts",
            "status",
            "status_changed_at",
            "next_attempt_at",
            "error_code",
            "error_message",
        ]
    )
    return DeliveryOutcome(retry_in=delay)


@transaction.atomic
def settle_stalled_send(message_id):
    """A send whose worker never came back (found by the sweeper): `unknown`, never resent.

    Returns (1 if it was settled else 0, the id of the conversation's next queued reply).
    """
    message = Message.objects.select_for_update(of=("self",)).get(pk=message_id)
    if message.status != DeliveryStatus.SENDING:
        return 0, None
    _settle(
        message,
        DeliveryStatus.UNKNOWN,
        error_message=_("Sending did not finish; the message may not have been delivered."),
    )
    return 1, next_queued_id(message)


@transaction.atomic
def _finish_send(message_id, status, error):
    message = Message.objects.select_for_update().get(pk=message_id)
    _settle(message, status, error_code=error.code, error_message=error.reason)


def _settle(message, status, *, error_code="", error_message=""):
    _set_status(message, status, error_code=error_code, error_message=error_message)
    publish("message.updated", message=message)


def _set_status(message, status, error_code="", error_message=""):
    message.status = status
    message.status_changed_at = timezone.now()
    message.error_code = str(error_code)[:64]
    message.error_message = error_message
    message.save(update_fields=["status", "status_changed_at", "error_code", "error_message"])


def apply_delivery_status(message, status):
    """Move a message forward to a receipt's state; a receipt never moves it back."""
    current = DELIVERY_ORDER.get(message.status, -1)
    if message.status in (DeliveryStatus.UNKNOWN, DeliveryStatus.FAILED):
        current = -1
    if DELIVERY_ORDER[status] <= current:
        return False
    _set_status(message, status)
    return True


def _apply_receipt_to(message, status, error_code="", error_message=""):
    if status == DeliveryStatus.FAILED:
        # A later "failed" receipt counts only while we know no better.
        if message.status not in (DeliveryStatus.SENDING, DeliveryStatus.SENT):
            return False
        _set_status(message, DeliveryStatus.FAILED, error_code, error_message)
        return True
    return apply_delivery_status(message, status)


@transaction.atomic
def apply_receipt(inbox, receipt):
    """Apply a provider's receipt (a StatusUpdate): forward only, so repeats change nothing.

    A receipt for a message whose send has not returned yet is kept and applied when the
    message gets its provider id. A watermark receipt covers every earlier message.
    """
    from inbox.models import PendingReceipt

    if receipt.watermark is not None:
        messages = Message.objects.select_for_update().filter(
            inbox=inbox,
            direction=Direction.OUTBOUND,
            conversation__contact_identity__external_id=receipt.recipient,
            created_at__lte=receipt.watermark,
            # Not `sending`: a watermark says what was delivered before it, and a send
            # that has not returned may not have been taken yet.
            status__in=(DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.UNKNOWN),
        )
        changed = [m for m in messages if apply_delivery_status(m, receipt.status)]
        for message in changed:
            publish("message.updated", message=message)
        if not receipt.external_id:
            return len(changed)
    if not receipt.external_id:
        return 0
    message = (
        Message.objects.select_for_update()
        .filter(inbox=inbox, external_id=receipt.external_id, direction=Direction.OUTBOUND)
        .first()
    )
    if message is None:
        PendingReceipt.objects.get_or_create(
            inbox=inbox,
            external_id=receipt.external_id,
            status=receipt.status,
            defaults={
                "error_code": receipt.error_code[:64],
                "error_message": receipt.error_message,
            },
        )
        return 0
    if _apply_receipt_to(message, receipt.status, receipt.error_code, receipt.error_message):
        publish("message.updated", message=message)
        return 1
    return 0


@transaction.atomic
def mark_read_by_visitor(identity, up_to_message_id):
    """The widget showed the visitor our messages up to this one: they are read."""
    messages = list(
        Message.objects.select_for_update()
        .filter(
            conversation__contact_identity=identity,
            direction=Direction.OUTBOUND,
            kind__in=(MessageKind.TEXT, MessageKind.TEMPLATE),
            pk__lte=up_to_message_id,
            status__in=(DeliveryStatus.SENT, DeliveryStatus.DELIVERED),
        )
        .order_by("pk")
    )
    for message in messages:
        if apply_delivery_status(message, DeliveryStatus.READ):
            publish("message.updated", message=message, visitor=True)
    return len(messages)


@transaction.atomic
def assign_conversation(user, conversation, assignee):
    """Give the conversation to `assignee` (None to unassign); only to someone who can see it."""
    if assignee is not None and not users_who_can_see(conversation).filter(pk=assignee.pk).exists():
        raise ActionRefused(
            _("%(name)s cannot see this inbox, so the conversation cannot be assigned to them.")
            % {"name": assignee.display_name}
        )
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.assignee_id == (assignee.pk if assignee else None):
        return conversation
    previous = conversation.assignee
    activity = _record_activity(
        conversation,
        user,
        ActivityField.ASSIGNEE,
        previous.pk if previous else "",
        assignee.pk if assignee else "",
        labels=(
            previous.display_name if previous else "",
            assignee.display_name if assignee else "",
        ),
    )
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee"])
    publish("conversation.updated", conversation=conversation, activity=activity)
    return conversation


def mentioned_in(conversation, body):
    """The users an `@Display Name` in the text refers to, among those who can see it."""
    found = []
    for person in sorted(
        users_who_can_see(conversation), key=lambda u: len(u.display_name), reverse=True
    ):
        token = f"@{person.display_name}"
        if person.display_name and token in body:
            found.append(person)
            body = body.replace(token, "")
    return found


@transaction.atomic
def add_note(user, conversation, body, mentioned_users=(), files=()):
    """A private note for colleagues (text, files or both): never sent to the customer.

    Only users who can see the conversation can be mentioned; each one is notified.
    """
    checked_files = _check_files(files)
    body = _clean_body(body, may_be_empty=bool(checked_files))
    mentioned_users = list(mentioned_users)
    allowed = set(
        users_who_can_see(conversation)
        .filter(pk__in=[u.pk for u in mentioned_users])
        .values_list("pk", flat=True)
    )
    for mentioned in mentioned_users:
        if mentioned.pk not in allowed:
            raise ActionRefused(
                _("%(name)s cannot see this conversation, so they cannot be mentioned.")
                % {"name": mentioned.display_name}
            )
    note = Message.objects.create(
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Direction.OUTBOUND,
        kind=MessageKind.NOTE,
        author_type=AuthorType.AGENT,
        author=user,
        body=body,
    )
    attachments.store(note, checked_files)
    Mention.objects.bulk_create(
        [Mention(message=note, user=mentioned) for mentioned in mentioned_users]
    )
    publish("message.created", message=note)
    for mentioned in mentioned_users:
        publish("mention.created", message=note, user=mentioned, agents=False)
    return note


def _refuse_second_active_conversation(conversation):
    if conversation.channel == "email":
        return
    other = (
        Conversation.objects.filter(
            inbox_id=conversation.inbox_id,
            contact_identity_id=conversation.contact_identity_id,
            status__in=(Status.OPEN, Status.PENDING),
        )
        .exclude(pk=conversation.pk)
        .values_list("pk", flat=True)
        .first()
    )
    if other is not None:
        raise ActionRefused(
            _("This customer already has an open conversation (#%(number)s) on this inbox.")
            % {"number": other}
        )


@transaction.atomic
def change_status(user, conversation, status, *, snoozed_until=None):
    """Open, set pending, snooze until a time, or resolve a conversation."""
    if status not in Status.values:
        raise ActionRefused(_("“%(status)s” is not a status.") % {"status": status})
    now = timezone.now()
    if status == Status.SNOOZED and (snoozed_until is None or snoozed_until <= now):
        raise ActionRefused(_("Choose a time in the future to snooze until."))
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.status == status and conversation.snoozed_until == snoozed_until:
        return conversation
    if status in (Status.OPEN, Status.PENDING) and conversation.status not in (
        Status.OPEN,
        Status.PENDING,
    ):
        _refuse_second_active_conversation(conversation)
    activity = _record_activity(
        conversation, user, ActivityField.STATUS, conversation.status, status
    )
    conversation.status = status
    conversation.snoozed_until = snoozed_until if status == Status.SNOOZED else None
    conversation.resolved_at = now if status == Status.RESOLVED else None
    conversation.save(update_fields=["status", "snoozed_until", "resolved_at"])
    publish("conversation.updated", conversation=conversation, activity=activity)
    return conversation


@transaction.atomic
def set_priority(user, conversation, priority):
    if priority not in Priority.values:
        raise ActionRefused(_("“%(priority)s” is not a priority.") % {"priority": priority})
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.priority == priority:
        return conversation
    activity = _record_activity(
        conversation, user, ActivityField.PRIORITY, conversation.priority, priority
    )
    conversation.priority = priority
    conversation.save(update_fields=["priority"])
    publish("conversation.updated", conversation=conversation, activity=activity)
    return conversation


@transaction.atomic
def assign_team(user, conversation, team):
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.team_id == (team.pk if team else None):
        return conversation
    previous = conversation.team
    activity = _record_activity(
        conversation,
        user,
        ActivityField.TEAM,
        previous.pk if previous else "",
        team.pk if team else "",
        labels=(previous.name if previous else "", team.name if team else ""),
    )
    conversation.team = team
    conversation.save(update_fields=["team"])
    publish("conversation.updated", conversation=conversation, activity=activity)
    return conversation


@transaction.atomic
def add_label(user, conversation, label):
    if conversation.labels.filter(pk=label.pk).exists():
        return conversation
    conversation.labels.add(label)
    activity = _record_activity(
        conversation, user, ActivityField.LABEL_ADDED, "", label.pk, labels=("", label.name)
    )
    publish("conversation.updated", conversation=conversation, activity=activity)
    return conversation


@transaction.atomic
def remove_label(user, conversation, label):
    if not conversation.labels.filter(pk=label.pk).exists():
        return conversation
    conversation.labels.remove(label)
    activity = _record_activity(
        conversation, user, ActivityField.LABEL_REMOVED, label.pk, "", labels=(label.name, "")
    )
    publish("conversation.updated", conversation=conversation, activity=activity)
    return conversation


def wake_snoozed_conversations(now=None):
    """Reopen every snoozed conversation whose time has come. Returns how many woke."""
    now = now or timezone.now()
    woken = 0
    due = Conversation.objects.filter(status=Status.SNOOZED, snoozed_until__lte=now)
    for pk in due.values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update()
                .filter(pk=pk, status=Status.SNOOZED, snoozed_until__lte=now)
                .first()
            )
            if conversation is None:
                continue
            _reopen_by_system(conversation, reason="snooze_ended")
            woken += 1
    return woken


def _reopen_by_system(conversation, *, reason):
    """Open a snoozed or resolved conversation because of `reason`, recorded and live."""
    activity = _record_activity(
        conversation, None, ActivityField.STATUS, conversation.status, Status.OPEN, reason=reason
    )
    conversation.status = Status.OPEN
    conversation.snoozed_until = None
    conversation.resolved_at = None
    conversation.save(update_fields=["status", "snoozed_until", "resolved_at"])
    publish("conversation.updated", conversation=conversation, activity=activity)


def _record_activity(conversation, actor, field, from_value, to_value, reason="", labels=("", "")):
    return Activity.objects.create(
        conversation=conversation,
        actor=actor,
        field=field,
        from_value=str(from_value or ""),
        to_value=str(to_value or ""),
        from_label=labels[0],
        to_label=labels[1],
        reason=reason,
    )


@transaction.atomic
def create_canned_response(user, *, shortcut, title, body, shared=False):
    """Save a reply for later. Anyone may keep their own; sharing is for supervisors."""
    shortcut = slugify(shortcut or "")[:40]
    title = (title or "").strip()[:120]
    body = _clean_body(body)
    if not shortcut:
        raise ActionRefused(_("Give the canned response a shortcut, e.g. “shipping-times”."))
    if shared and not user.sees_every_inbox:
        raise ActionRefused(_("Only supervisors and admins can share canned responses."))
    owner = None if shared else user
    clash = CannedResponse.objects.filter(shortcut=shortcut)
    clash = clash.filter(owner__isnull=True) if shared else clash.filter(owner=user)
    if clash.exists():
        raise ActionRefused(_("The shortcut /%(shortcut)s is taken.") % {"shortcut": shortcut})
    return CannedResponse.objects.create(
        shortcut=shortcut, title=title or shortcut, body=body, owner=owner
    )


def mark_conversation_read(user, conversation):
    """The user has seen this conversation up to its latest message, and its mentions."""
    last_message_id = (
        Conversation.objects.filter(pk=conversation.pk)
        .values_list("last_message_id", flat=True)
        .first()
    )
    with transaction.atomic():
        updated = ConversationRead.objects.filter(user=user, conversation=conversation).update(
            last_read_message_id=last_message_id, updated_at=timezone.now()
        )
        if not updated:
            try:
                with transaction.atomic():
                    ConversationRead.objects.create(
                        user=user, conversation=conversation, last_read_message_id=last_message_id
                    )
            except IntegrityError:
                ConversationRead.objects.filter(user=user, conversation=conversation).update(
                    last_read_message_id=last_message_id, updated_at=timezone.now()
                )
        Mention.objects.filter(user=user, message__conversation=conversation, is_read=False).update(
            is_read=True
        )
        _tell_provider_read(conversation)


def _tell_provider_read(conversation):
    """On channels that show read ticks, tell the provider an agent read the customer's
    latest message — once per message, whoever of the team opens it."""
    from django.core.cache import cache

    from inbox.providers import ADAPTERS

    if not getattr(ADAPTERS.get(conversation.inbox.kind), "sends_read_marks", False):
        return
    latest = (
        Message.objects.filter(
            conversation=conversation, direction=Direction.INBOUND, external_id__isnull=False
        )
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if latest and cache.add(f"provider-read:{latest}", 1, timeout=7 * 24 * 3600):
        from inbox.tasks import mark_read_at_provider

        transaction.on_commit(lambda: mark_read_at_provider.delay(latest))


@dataclass
class BulkResult:
    changed: int
    refusals: list


def bulk_update(user, conversations, *, assignee=None, unassign=False, status=None, label=None):
    """Apply one change to many conversations, each through its own action.

    Every conversation gets the same checks, activity lines and live updates as when it
    is changed alone; what cannot be done to one is reported and the others go ahead.
    """
    changed, refusals = 0, []
    for conversation in conversations:
        try:
            if assignee is not None or unassign:
                assign_conversation(user, conversation, None if unassign else assignee)
            if status:
                change_status(user, conversation, status)
            if label is not None:
                add_label(user, conversation, label)
            changed += 1
        except ActionRefused as refusal:
            refusals.append(f"#{conversation.pk}: {refusal.message}")
    return BulkResult(changed, refusals)


@transaction.atomic
def retry_message(user, message):
    """Send a failed reply again, or resend one that may not have been delivered.

    Only an agent's explicit request does this: nothing that may have left is ever resent
    automatically. The message starts a new attempt from queued.
    """
    message = Message.objects.select_for_update().get(pk=message.pk)
    if message.direction != Direction.OUTBOUND or message.status not in (
        DeliveryStatus.FAILED,
        DeliveryStatus.UNKNOWN,
    ):
        raise ActionRefused(_("Only a failed or undelivered reply can be sent again."))
    message.send_attempts = 0
    message.next_attempt_at = None
    message.send_claim = ""
    message.save(update_fields=["send_attempts", "next_attempt_at", "send_claim"])
    _set_status(message, DeliveryStatus.QUEUED)
    publish("message.updated", message=message)

    from inbox.tasks import deliver_message

    transaction.on_commit(lambda: deliver_message.delay(message.pk))
    return message


def fetch_provider_media(attachment_id):
    """Fetch an inbound file from its provider and show it in the thread.

    Raises RetryableSendError when it is worth another try; a permanent refusal (too
    large, gone) is recorded on the attachment and shown instead of the file.
    """
    from conversations.models import Attachment
    from inbox.providers import adapter_for
    from inbox.providers.base import InboundMedia

    attachment = (
        Attachment.objects.select_related("message__conversation__inbox")
        .filter(pk=attachment_id)
        .first()
    )
    if attachment is None or attachment.file or attachment.fetch_error:
        return attachment
    adapter = adapter_for(attachment.message.conversation.inbox)
    media = InboundMedia(
        ref=attachment.provider_ref,
        content_type=attachment.content_type,
        filename=attachment.original_name,
    )
    try:
        fetched = adapter.fetch_media(media)
    except PermanentSendError as error:
        return give_up_media(attachment_id, error.reason)
    except OutcomeUnknown as error:
        # A download changes nothing at the provider: unlike a send, it is safe to repeat.
        raise RetryableSendError(
            _("The provider did not answer in time."), code=error.code
        ) from error
    with transaction.atomic():
        attachment = Attachment.objects.select_for_update().get(pk=attachment_id)
        attachments.save_fetched_file(
            attachment, fetched.content, fetched.content_type, filename=fetched.filename
        )
        publish("message.updated", message=attachment.message)
    return attachment


@transaction.atomic
def give_up_media(attachment_id, reason):
    from conversations.models import Attachment

    attachment = Attachment.objects.select_for_update().get(pk=attachment_id)
    attachment.fetch_error = (
        _("The file could not be downloaded: %(reason)s") % {"reason": reason}
    )[:255]
    attachment.save(update_fields=["fetch_error"])
    publish("message.updated", message=attachment.message)
    return attachment
