from django.contrib import admin

from contacts.models import Consent, Contact, ContactIdentity


class IdentityInline(admin.TabularInline):
    model = ContactIdentity
    extra = 0


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "phone", "created_at"]
    search_fields = ["name", "email", "phone"]
    inlines = [IdentityInline]


@admin.register(ContactIdentity)
class ContactIdentityAdmin(admin.ModelAdmin):
    list_display = ["external_id", "inbox", "contact"]
    list_select_related = ["inbox", "contact"]
    search_fields = ["external_id"]


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["contact", "channel", "state", "source", "created_at"]
    list_filter = ["channel", "state"]
    list_select_related = ["contact"]
