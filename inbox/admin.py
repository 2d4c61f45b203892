from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inbox.models import InboundEvent, InboundEventStatus, Inbox, InboxKind, Team, User
from inbox.providers import adapter_for
from inbox.providers.base import OutcomeUnknown, PermanentSendError, RetryableSendError

# The webhook fields to subscribe to in Meta's app dashboard, per kind.
META_WEBHOOK_FIELDS = {
    InboxKind.WHATSAPP: "messages",
    InboxKind.MESSENGER: "messages, message_echoes, message_deliveries, message_reads",
    InboxKind.INSTAGRAM: "messages, messaging_seen",
}


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["email", "display_name", "role", "availability", "is_active"]
    list_filter = ["role", "availability", "is_active"]
    search_fields = ["email", "display_name"]
    exclude = ["password", "last_login"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name"]
    filter_horizontal = ["members"]


class InboxAdminForm(forms.ModelForm):
    """Secrets are write-only: the form shows them masked and keeps them when left blank."""

    new_secrets = forms.JSONField(
        label=_("Replace secrets"),
        required=False,
        help_text=_(
            'JSON object, e.g. {"identity_secret": "…"}. Leave empty to keep the current ones.'
        ),
    )

    class Meta:
        model = Inbox
        fields = ["name", "kind", "provider_config", "time_zone", "is_active", "members"]

    def save(self, commit=True):
        inbox = super().save(commit=False)
        if self.cleaned_data.get("new_secrets"):
            inbox.provider_secrets = self.cleaned_data["new_secrets"]
        if commit:
            inbox.save()
            self.save_m2m()
        return inbox


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    form = InboxAdminForm
    list_display = ["name", "kind", "is_active", "public_token"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["public_token", "webhook", "current_secrets"]
    filter_horizontal = ["members"]
    actions = ["register_webhook"]

    @admin.display(description=_("Webhook URL"))
    def webhook(self, inbox):
        # A new inbox has no kind yet, so no URL: the add form must still open.
        return inbox.webhook_url if inbox.pk else "—"

    @admin.display(description=_("Current secrets"))
    def current_secrets(self, inbox):
        return ", ".join(f"{key}: {value}" for key, value in inbox.masked_secrets().items()) or "—"

    @admin.action(description=_("Register the webhook with the provider"))
    def register_webhook(self, request, queryset):
        """Telegram is told over its API; Meta's and Twilio's consoles are filled in by hand,
        so for those the admin gets what to paste there."""
        for inbox in queryset.order_by("name"):
            level, text = register_webhook(inbox)
            self.message_user(request, text, level)


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    """Deliveries as providers sent them. A failed one shows its error and can be
    applied again after a fix."""

    list_display = ["received_at", "inbox", "status", "attempts", "short_error"]
    list_filter = ["status", "inbox"]
    readonly_fields = [
        "inbox",
        "delivery_key",
        "content_type",
        "received_at",
        "status",
        "attempts",
        "error",
        "processed_at",
        "raw_body",
    ]
    exclude = ["body"]
    actions = ["reprocess"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("error"))
    def short_error(self, event):
        return event.error[:120]

    @admin.display(description=_("raw body"))
    def raw_body(self, event):
        return bytes(event.body).decode("utf-8", errors="replace")

    @admin.action(description=_("Apply the selected deliveries again"))
    def reprocess(self, request, queryset):
        from inbox.inbound import enqueue_processing

        ids = list(
            queryset.exclude(status=InboundEventStatus.PROCESSED).values_list("pk", flat=True)
        )
        queryset.filter(pk__in=ids).update(status=InboundEventStatus.PENDING, error="")
        for event_id in ids:
            enqueue_processing(event_id)
        self.message_user(request, _("%(count)s deliveries queued again.") % {"count": len(ids)})


def register_webhook(inbox):
    """Have the provider post to `inbox.webhook_url`, or say how: (message level, text)."""
    config, secrets = inbox.provider_config or {}, inbox.provider_secrets or {}
    values = {"inbox": inbox.name, "url": inbox.webhook_url}
    if inbox.kind == InboxKind.TELEGRAM:
        if config.get("mode", "webhook") != "webhook":
            return messages.WARNING, gettext(
                "%(inbox)s is in polling mode: Switchboard fetches its updates itself. "
                "Set its mode to “webhook” first."
            ) % values
        if not secrets.get("secret_token"):
            return messages.ERROR, gettext(
                "%(inbox)s has no secret token: add one to its secrets first."
            ) % values
        try:
            adapter_for(inbox).set_webhook(inbox.webhook_url)
        except (PermanentSendError, RetryableSendError, OutcomeUnknown) as error:
            text = gettext("%(inbox)s: Telegram did not take the webhook: %(error)s")
            return messages.ERROR, text % {**values, "error": error}
        text = gettext("%(inbox)s: Telegram now posts updates to %(url)s.")
        return messages.SUCCESS, text % values
    if inbox.kind in META_WEBHOOK_FIELDS:
        return messages.INFO, gettext(
            "%(inbox)s: in the Meta app's webhook settings, enter the callback URL %(url)s "
            "and the verify token %(token)s, and subscribe to %(fields)s."
        ) % {
            **values,
            "token": secrets.get("verify_token", ""),
            "fields": META_WEBHOOK_FIELDS[inbox.kind],
        }
    if inbox.kind in (InboxKind.TWILIO_SMS, InboxKind.TWILIO_WHATSAPP):
        return messages.INFO, gettext(
            "%(inbox)s: in the Twilio console, set the webhook for messages coming in to "
            "%(number)s to %(url)s (HTTP POST). Status callbacks need nothing: every send "
            "names that URL."
        ) % {**values, "number": config.get("from_number", "")}
    return messages.WARNING, gettext("%(inbox)s has no provider webhook to register.") % values
