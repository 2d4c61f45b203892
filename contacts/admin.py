from django.contrib import admin

from contacts.models import Consent, Contact, ContactChange, ContactIdentity, ContactNote


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


@admin.register(ContactNote)
class ContactNoteAdmin(admin.ModelAdmin):
    list_display = ["contact", "author", "created_at"]
    list_select_related = ["contact", "author"]


@admin.register(ContactChange)
class ContactChangeAdmin(admin.ModelAdmin):
    list_display = ["contact", "field", "from_value", "to_value", "actor", "created_at"]
    list_select_related = ["contact", "actor"]
