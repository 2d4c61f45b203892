from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = _("Live updates")

    def ready(self):
        from channels_app import access  # noqa: F401 (connects its signal receivers)
