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


@shared_task
def sweep_stale_sockets():
    """Agents whose server process died are marked offline once their sockets go stale."""
    from channels_app.presence import sweep_stale_sockets as sweep

    return sweep()
