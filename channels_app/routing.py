from django.urls import path

from channels_app.consumers import AgentConsumer, VisitorConsumer

websocket_urlpatterns = [
    path("ws/agent/", AgentConsumer.as_asgi()),
    path("ws/widget/<str:inbox_token>/", VisitorConsumer.as_asgi()),
]
