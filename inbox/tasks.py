import logging
import threading

from celery import shared_task
from django.conf import settings

from conversations import services

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True)
def deliver_message(self, message_id):
    """Send one queued reply, then the conversation's next one.

    Safe to deliver twice: the service sends only a message still queued, and a message
    left `sending` by this same task (its worker died mid-call) becomes `unknown`.
    """
    outcome = services.deliver_outbound_message(message_id, claim=self.request.id)
    if outcome.retry_in is not None:
        schedule_delivery(message_id, outcome.retry_in)
    if outcome.next_message_id is not None:
        deliver_message.delay(outcome.next_message_id)


def schedule_delivery(message_id, delay):
    """Try a message again after `delay` seconds.

    With a broker that is a delayed task; when tasks run in-process (the embedded
    default) a timer thread stands in, since an eager task cannot wait.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        timer = threading.Timer(delay, deliver_message.delay, args=(message_id,))
        timer.daemon = True
        timer.start()
    else:
        deliver_message.apply_async((message_id,), countdown=delay)


@shared_task(acks_late=True)
def process_inbound_event(event_id):
    """Apply a stored provider delivery, with other pending ones in the same batch
    (idempotent: a delivery already applied by another task's batch is left alone)."""
    from inbox.inbound import apply_inbound_events

    apply_inbound_events(event_id, batch_size=settings.INBOUND_BATCH_SIZE)


@shared_task
def sweep_inbound_events():
    """Re-enqueue deliveries stored but never applied (e.g. Redis was down at the time)."""
    from inbox import sweepers

    return sweepers.requeue_stale_inbound_events()


@shared_task
def sweep_outbound_messages():
    """Requeue replies stuck in `queued`; mark those stuck in `sending` as `unknown`."""
    from inbox import sweepers

    return sweepers.sweep_outbound_messages()


@shared_task
def poll_mailboxes():
    """Fetch new mail of every e-mail inbox with an IMAP server configured."""
    from inbox import polling

    return polling.poll_all_mailboxes()


@shared_task
def poll_telegram_updates():
    """Fetch updates for Telegram inboxes that poll instead of receiving webhooks."""
    from inbox import polling

    return polling.poll_all_telegram_bots()


@shared_task
def sync_message_templates():
    """Refresh the approved WhatsApp templates of every WhatsApp inbox."""
    from inbox import templates

    return templates.sync_all()


@shared_task(acks_late=True)
def mark_read_at_provider(message_id):
    """Show the customer their message was read (blue ticks). Best effort: a failure
    changes nothing on our side."""
    from conversations.models import Message
    from inbox.providers import adapter_for
    from inbox.providers.base import SendError

    message = Message.objects.select_related("conversation__inbox").filter(pk=message_id).first()
    if message is None:
        return
    try:
        adapter_for(message.conversation.inbox).mark_read(message)
    except SendError as error:
        logger.info("Read mark for %s not sent: %s", message_id, error)
