from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from channels_app import views as presence_views
from inbox import views as inbox_views
from inbox import webhooks, widget

# Resolved on first request, not at import: in production the static URL comes from the
# collectstatic manifest, which does not exist yet when `check --deploy` runs.
static_url = lazy(static, str)

urlpatterns = [
    path("", include("conversations.urls")),
    path("contacts/", include("contacts.urls")),
    path("me/availability/", presence_views.set_availability, name="availability"),
    path("me/notifications/", presence_views.set_notifications, name="notifications"),
    path("me/language/", inbox_views.set_language, name="language"),
    path("me/session/", inbox_views.session_status, name="session"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path(
        "favicon.ico",
        login_not_required(RedirectView.as_view(url=static_url("img/favicon.svg"), permanent=True)),
    ),
    path("webhooks/<str:kind>/<str:token>/", webhooks.provider_webhook, name="provider_webhook"),
    path("widget.js", widget.widget_script, name="widget_script"),
    path("widget/demo/", widget.demo_page, name="widget_demo"),
    path("widget/<str:inbox_token>/", widget.widget_page, name="widget_page"),
    path("widget/<str:inbox_token>/sessions/", widget.create_session, name="widget_session"),
    path("widget/<str:inbox_token>/messages/", widget.visitor_messages, name="widget_messages"),
    path("widget/<str:inbox_token>/profile/", widget.visitor_profile, name="widget_profile"),
    path(
        "widget/<str:inbox_token>/attachments/<int:pk>/",
        widget.visitor_attachment,
        name="widget_attachment",
    ),
]
