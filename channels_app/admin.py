from django.contrib import admin

from channels_app.models import LiveEvent


@admin.register(LiveEvent)
class LiveEventAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "inbox",
        "user",
        "conversation",
        "visible_to_visitor",
        "created_at",
    ]
    list_filter = ["kind", "visible_to_visitor"]
    raw_id_fields = ["conversation", "message", "user"]
