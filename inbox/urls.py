from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from inbox import widget

urlpatterns = [
    path("", include("conversations.urls")),
    path("contacts/", include("contacts.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path(
        "favicon.ico",
        login_not_required(RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    ),
    path("widget.js", widget.widget_script, name="widget_script"),
    path("widget/demo/", widget.demo_page, name="widget_demo"),
    path("widget/<str:inbox_token>/", widget.widget_page, name="widget_page"),
    path("widget/<str:inbox_token>/sessions/", widget.create_session, name="widget_session"),
    path("widget/<str:inbox_token>/messages/", widget.visitor_messages, name="widget_messages"),
    path("widget/<str:inbox_token>/profile/", widget.visitor_profile, name="widget_profile"),
]
