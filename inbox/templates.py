"""Approved WhatsApp message templates, synced from the provider for the composer."""

import logging

from django.db import transaction
from django.utils import timezone

from inbox.models import Inbox, InboxKind, MessageTemplate
from inbox.providers import adapter_for

logger = logging.getLogger(__name__)


def sync_all():
    synced = 0
    for inbox in Inbox.objects.filter(kind=InboxKind.WHATSAPP, is_active=True):
        try:
            synced += sync_templates(inbox)
        except Exception as error:
            logger.warning("Syncing templates of %s failed: %s", inbox, error)
    return synced


@transaction.atomic
def sync_templates(inbox):
    """Replace the inbox's templates with the provider's list; returns how many it has."""
    templates = adapter_for(inbox).fetch_templates()
    now = timezone.now()
    kept = []
    for item in templates:
        template, _created = MessageTemplate.objects.update_or_create(
            inbox=inbox,
            name=item["name"],
            language=item["language"],
            defaults={
                "status": item.get("status", ""),
                "category": item.get("category", ""),
                "body_text": item.get("body_text", ""),
                "parameter_count": item.get("parameter_count", 0),
                "synced_at": now,
            },
        )
        kept.append(template.pk)
    MessageTemplate.objects.filter(inbox=inbox).exclude(pk__in=kept).delete()
    return len(kept)


def approved_templates(inbox):
    return MessageTemplate.objects.filter(inbox=inbox, status="APPROVED")
