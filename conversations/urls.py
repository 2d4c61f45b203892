from django.urls import path

from conversations import views

app_name = "conversations"

urlpatterns = [
    path("", views.workspace, name="inbox"),
    path("conversations/", views.conversation_list_page, name="list_page"),
    path("conversations/bulk/", views.bulk_update, name="bulk"),
    path("conversations/<int:pk>/", views.workspace, name="detail"),
    path("conversations/<int:pk>/messages/", views.older_messages, name="older_messages"),
    path("conversations/<int:pk>/reply/", views.reply, name="reply"),
    path(
        "conversations/<int:pk>/templates/<int:template_pk>/",
        views.send_template,
        name="send_template",
    ),
    path(
        "conversations/<int:pk>/messages/<int:message_pk>/retry/",
        views.retry_message,
        name="retry_message",
    ),
    path("conversations/<int:pk>/assign/", views.assign, name="assign"),
    path("conversations/<int:pk>/status/", views.change_status, name="status"),
    path("conversations/<int:pk>/priority/", views.change_priority, name="priority"),
    path("conversations/<int:pk>/team/", views.change_team, name="team"),
    path("conversations/<int:pk>/labels/", views.change_labels, name="labels"),
    path("conversations/<int:pk>/canned/", views.save_canned_response, name="save_canned"),
    path("search/", views.search, name="search"),
    path("attachments/<int:pk>/", views.attachment, name="attachment"),
    path("attachments/signed/<str:token>/", views.signed_attachment, name="signed_attachment"),
]
