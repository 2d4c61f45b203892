import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from inbox.asgi_handler import OneHopASGIHandler  # noqa: E402

django_asgi_app = OneHopASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from channels_app.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

if settings.EMBEDDED and os.environ.get("SWITCHBOARD_SCHEDULER", "1") == "1":
    from inbox.scheduler import start_in_process_scheduler

    start_in_process_scheduler()

# What is loaded by now lives as long as the process. Frozen, it is left out of the
# collector's full passes, which otherwise walk all of it in the middle of a request: the
# list pane's p99 went from 157 to 75 ms (bench/README.md, round 3).
gc.freeze()
