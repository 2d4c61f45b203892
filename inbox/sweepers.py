"""Periodic repairs: nothing accepted is left behind when a process or Redis was down."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from conversations.models import DeliveryStatus, Direction, Message
from conversations.services import settle_stalled_send
from inbox.models import InboundEvent, InboundEventStatus

# A stored delivery not applied after this long is enqueued again.
INBOUND_GRACE = timedelta(seconds=30)
# A queued reply whose task vanished is requeued after this long.
QUEUED_GRACE = timedelta(minutes=2)


def requeue_stale_inbound_events(now=None):
    from inbox.inbound import enqueue_processing

    now = now or timezone.now()
    stale = list(
        InboundEvent.objects.filter(
            status=InboundEventStatus.PENDING, received_at__lt=now - INBOUND_GRACE
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )
    for event_id in stale:
        enqueue_processing(event_id)
    return len(stale)


def sending_grace():
    """Longer than any provider call can take: after it, a `sending` message's worker is gone."""
    return timedelta(
        seconds=settings.PROVIDER_CONNECT_TIMEOUT + 2 * settings.PROVIDER_READ_TIMEOUT + 60
    )


def sweep_outbound_messages(now=None):
    from inbox.tasks import deliver_message

    now = now or timezone.now()
    requeue = list(
        Message.objects.filter(
            direction=Direction.OUTBOUND,
            status=DeliveryStatus.QUEUED,
            status_changed_at__lt=now - QUEUED_GRACE,
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now - QUEUED_GRACE))
        .values_list("pk", flat=True)[:1000]
    )
    for message_id in requeue:
        deliver_message.delay(message_id)
    stuck = 0
    for message_id in Message.objects.filter(
        direction=Direction.OUTBOUND,
        status=DeliveryStatus.SENDING,
        status_changed_at__lt=now - sending_grace(),
    ).values_list("pk", flat=True)[:1000]:
        settled, after = settle_stalled_send(message_id)
        stuck += settled
        if after is not None:
            # Replies of the same conversation waited behind it: the next one goes now.
            deliver_message.delay(after)
    return {"requeued": len(requeue), "unknown": stuck}
