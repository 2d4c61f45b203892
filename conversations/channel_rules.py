"""What a channel lets an agent send, and until when. Enforced on the server.

- The customer-service window (WhatsApp, Messenger, Instagram, WhatsApp via Twilio): free
  text only within 24 hours of the customer's last message. Outside it WhatsApp allows an
  approved template; Messenger and Instagram a human agent's reply (tagged HUMAN_AGENT)
  for 7 days.
- Consent: a customer who opted out on a channel (STOP) gets nothing more there until
  they opt in again (START). Checked before any provider call.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from contacts.models import ConsentState
from contacts.services import current_consent


@dataclass(frozen=True)
class ReplyWindow:
    """What the composer may send now. `state` is one of:

    open — free text; human_agent — free text, sent with the HUMAN_AGENT tag;
    template_only — only an approved template; closed — nothing; opted_out — nothing.
    """

    state: str
    closes_at: datetime | None = None
    explanation: str = ""

    @property
    def allows_free_text(self):
        return self.state in ("open", "human_agent")

    @property
    def allows_templates(self):
        return self.state in ("open", "human_agent", "template_only")

    @property
    def is_limited(self):
        return self.state != "open" or self.closes_at is not None


def _adapter_class(kind):
    from inbox.providers import ADAPTERS

    return ADAPTERS.get(kind)


def reply_window(conversation, now=None):
    now = now or timezone.now()
    inbox = conversation.inbox
    if current_consent(conversation.contact, inbox.kind) == ConsentState.OPTED_OUT:
        return ReplyWindow(
            "opted_out",
            explanation=_(
                "%(name)s opted out of messages on this channel (e.g. by replying STOP). "
                "Nothing can be sent here until they opt in again."
            )
            % {"name": conversation.contact.display_name},
        )
    adapter = _adapter_class(inbox.kind)
    hours = getattr(adapter, "service_window_hours", None)
    if not hours:
        return ReplyWindow("open")
    last = conversation.last_customer_message_at
    if last is not None and now < last + timedelta(hours=hours):
        return ReplyWindow(
            "open",
            closes_at=last + timedelta(hours=hours),
            explanation=_("The customer-service window is open."),
        )
    days = getattr(adapter, "human_agent_window_days", None)
    if days and last is not None and now < last + timedelta(days=days):
        return ReplyWindow(
            "human_agent",
            closes_at=last + timedelta(days=days),
            explanation=_(
                "The 24-hour window has closed. You can still answer as a human agent "
                "(sent with the HUMAN_AGENT tag) until the date shown."
            ),
        )
    if inbox.kind == "whatsapp":
        return ReplyWindow(
            "template_only",
            explanation=_(
                "More than 24 hours have passed since the customer's last message: "
                "WhatsApp allows only an approved template until they write again."
            ),
        )
    return ReplyWindow(
        "closed",
        explanation=_(
            "The customer has not written for too long: this channel allows no reply "
            "until they write again."
        ),
    )


def check_free_text(conversation, now=None):
    """Raise ActionRefused with the reason when free text cannot be sent now."""
    from conversations.services import ActionRefused

    window = reply_window(conversation, now)
    if not window.allows_free_text:
        raise ActionRefused(window.explanation)
    return window


def check_template(conversation, now=None):
    from conversations.services import ActionRefused

    window = reply_window(conversation, now)
    if not window.allows_templates:
        raise ActionRefused(window.explanation)
    return window
