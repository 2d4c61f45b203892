from celery import shared_task

from conversations import services


@shared_task
def wake_snoozed_conversations():
    """Reopen snoozed conversations whose time has come."""
    return services.wake_snoozed_conversations()


@shared_task(bind=True, acks_late=True, max_retries=5)
def fetch_inbound_media(self, attachment_id):
    """Download a provider's file into storage; retried with backoff when it is not there."""
    from inbox.providers.base import RetryableSendError

    try:
        services.fetch_provider_media(attachment_id)
    except RetryableSendError as error:
        if self.request.retries >= self.max_retries:
            services.give_up_media(attachment_id, error.reason)
            return
        raise self.retry(countdown=error.retry_after or 2 ** (self.request.retries + 1)) from error
