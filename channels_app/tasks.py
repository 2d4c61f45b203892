from celery import shared_task
from django.conf import settings
from django.utils import timezone

from channels_app.models import LiveEvent


@shared_task
def prune_live_events():
    """Forget live events older than the retention period; clients that far behind reload."""
    cutoff = timezone.now() - settings.LIVE_EVENT_RETENTION
    deleted, _ = LiveEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
