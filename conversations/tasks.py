from celery import shared_task

from conversations import services


@shared_task
def wake_snoozed_conversations():
    """Reopen snoozed conversations whose time has come."""
    return services.wake_snoozed_conversations()
