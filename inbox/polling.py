"""Inboxes that fetch instead of being called: IMAP mailboxes and polling Telegram bots.

What is fetched goes through the same path as a webhook delivery (`accept_delivery`), so
it is stored once, applied by a task and deduplicated the same way.
"""

import logging

from django.db import transaction
from django.utils import timezone

from inbox.inbound import accept_delivery
from inbox.models import Inbox, InboxKind, MailboxState
from inbox.providers import adapter_for

logger = logging.getLogger(__name__)


def poll_all_mailboxes():
    count = 0
    for inbox in Inbox.objects.filter(kind=InboxKind.EMAIL, is_active=True):
        if inbox.provider_config.get("imap_host"):
            count += poll_mailbox_of(inbox)
    return count


def poll_mailbox_of(inbox):
    """Fetch the inbox's new mail once; returns how many messages were stored."""
    from inbox.providers.email import poll_mailbox

    state, _created = MailboxState.objects.get_or_create(inbox=inbox)
    try:
        raw_messages, new_state = poll_mailbox(inbox, dict(state.cursor))
    except Exception as error:
        logger.warning("Polling the mailbox of %s failed: %s", inbox, error)
        state.error = f"{error.__class__.__name__}: {error}"[:2000]
        state.polled_at = timezone.now()
        state.save(update_fields=["error", "polled_at"])
        return 0
    with transaction.atomic():
        for raw in raw_messages:
            accept_delivery(inbox, body=raw, content_type="message/rfc822")
        state.cursor = new_state
        state.polled_at = timezone.now()
        state.error = ""
        state.save(update_fields=["cursor", "polled_at", "error"])
    return len(raw_messages)


def poll_all_telegram_bots():
    count = 0
    for inbox in Inbox.objects.filter(kind=InboxKind.TELEGRAM, is_active=True):
        if inbox.provider_config.get("mode") == "polling":
            count += poll_telegram_bot(inbox)
    return count


def poll_telegram_bot(inbox):
    """One getUpdates round for a bot without a public webhook URL."""
    state, _created = MailboxState.objects.get_or_create(inbox=inbox)
    adapter = adapter_for(inbox)
    try:
        updates, next_offset = adapter.get_updates(state.cursor.get("offset"), timeout=0)
    except Exception as error:
        logger.warning("Polling Telegram for %s failed: %s", inbox, error)
        return 0
    with transaction.atomic():
        for raw in updates:
            accept_delivery(inbox, body=raw, content_type="application/json")
        if next_offset:
            state.cursor = {"offset": next_offset}
        state.polled_at = timezone.now()
        state.save(update_fields=["cursor", "polled_at"])
    return len(updates)
