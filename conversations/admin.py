from django.contrib import admin

from conversations.models import (
    Activity,
    Attachment,
    CannedResponse,
    Conversation,
    ConversationRead,
    Mention,
    Message,
)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "contact", "inbox", "status", "assignee", "last_message_at"]
    list_filter = ["status", "inbox"]
    list_select_related = ["contact", "inbox", "assignee"]
    raw_id_fields = ["contact", "contact_identity", "last_message"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "direction", "kind", "status", "created_at"]
    list_filter = ["direction", "kind", "status"]
    raw_id_fields = ["conversation", "in_reply_to", "author"]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["original_name", "content_type", "size", "message"]
    raw_id_fields = ["message"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["conversation", "field", "from_value", "to_value", "actor", "created_at"]
    list_filter = ["field"]
    raw_id_fields = ["conversation"]


@admin.register(ConversationRead)
class ConversationReadAdmin(admin.ModelAdmin):
    list_display = ["user", "conversation", "last_read_message", "updated_at"]
    raw_id_fields = ["conversation", "last_read_message"]


@admin.register(Mention)
class MentionAdmin(admin.ModelAdmin):
    list_display = ["user", "message", "is_read", "created_at"]
    raw_id_fields = ["message"]


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["shortcut", "title", "owner"]
    search_fields = ["shortcut", "title", "body"]
