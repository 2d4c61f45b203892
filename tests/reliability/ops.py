"""What a fault test asks of its stack, run inside it by tests/reliability/control.py.

Plain functions taking and returning JSON values. Time is injected: `ahead` moves the
sweepers' clock that many seconds past now, as if beat ran them that much later.
"""

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from channels_app.models import LiveEvent
from conversations import services
from conversations.models import Direction, Message
from inbox import sweepers
from inbox.models import InboundEvent, Inbox, InboxKind, User
from inbox.sandbox.inboxes import account_for

AGENT = "agent@example.com"


def workspace():
    """The demo inboxes as sandbox accounts, and what a customer needs to write in."""
    accounts = [account_for(inbox) for inbox in Inbox.objects.filter(is_active=True)]
    whatsapp = Inbox.objects.get(kind=InboxKind.WHATSAPP)
    telegram = Inbox.objects.get(kind=InboxKind.TELEGRAM)
    return {
        "accounts": [a for a in accounts if a is not None],
        "whatsapp": {
            "phone_number_id": whatsapp.provider_config["phone_number_id"],
            "waba_id": whatsapp.provider_config["waba_id"],
            "display_phone_number": whatsapp.provider_config.get("display_phone_number", ""),
            "app_secret": whatsapp.provider_secrets["app_secret"],
            "webhook_url": whatsapp.webhook_url,
        },
        "telegram": {"bot_token": telegram.provider_secrets["bot_token"]},
    }


def inbound(prefix):
    """Customers' messages whose text starts with `prefix`, oldest first."""
    return [
        {"id": m.pk, "body": m.body, "conversation": m.conversation_id}
        for m in Message.objects.filter(
            direction=Direction.INBOUND, body__startswith=prefix
        ).order_by("pk")
    ]


def inbound_events():
    """Stored provider deliveries by status (pending, processed, failed) and in all."""
    by_status = InboundEvent.objects.values("status").annotate(n=Count("pk"))
    counts = {row["status"]: row["n"] for row in by_status}
    counts["total"] = sum(counts.values())
    return counts


def sweep_inbound(ahead=0):
    return sweepers.requeue_stale_inbound_events(now=timezone.now() + timedelta(seconds=ahead))


def sweep_outbound(ahead=0):
    return sweepers.sweep_outbound_messages(now=timezone.now() + timedelta(seconds=ahead))


def sending_grace():
    return (sweepers.sending_grace() + sweepers.QUEUED_GRACE).total_seconds()


def reply(conversation, text):
    """The agent replies with the real action (its task is enqueued on commit)."""
    agent = User.objects.get(email=AGENT)
    conversation = Message.objects.filter(conversation_id=conversation).first().conversation
    return services.send_reply(agent, conversation, text).pk


def outbound(ids):
    by_id = {
        m.pk: {
            "id": m.pk,
            "body": m.body,
            "status": m.status,
            "send_claim": m.send_claim,
            "send_attempts": m.send_attempts,
            "error": m.error_message,
        }
        for m in Message.objects.filter(pk__in=ids)
    }
    return [by_id[pk] for pk in ids]


def last_event_id():
    return LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def failed_events():
    """The errors of deliveries that could not be applied."""
    return list(InboundEvent.objects.filter(status="failed").values_list("error", flat=True))
