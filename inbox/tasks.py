from celery import shared_task

from conversations import services


@shared_task(acks_late=True)
def deliver_message(message_id):
    """Send one queued reply. Idempotent: a message that is no longer queued is skipped."""
    services.deliver_outbound_message(message_id)
