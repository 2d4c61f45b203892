from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from inbox.models import Inbox, Team, User


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
    readonly_fields = ["public_token", "current_secrets"]
    filter_horizontal = ["members"]

    @admin.display(description=_("Current secrets"))
    def current_secrets(self, inbox):
        return ", ".join(f"{key}: {value}" for key, value in inbox.masked_secrets().items()) or "—"
