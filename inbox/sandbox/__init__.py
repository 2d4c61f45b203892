"""The provider sandbox: local servers speaking WhatsApp's, Messenger's, Telegram's and
Twilio's APIs on one port, for tests, the demo (`manage.py sandbox`) and `simulate`.

    with Sandbox() as sb:
        sb.add_whatsapp("1234", "5678", "token", "app-secret", "http://127.0.0.1:8000/…")
        settings.WHATSAPP_GRAPH_URL = f"{sb.url}/graph"
"""

from .server import Sandbox

__all__ = ["Sandbox"]
