"""Run the provider sandbox: WhatsApp, Messenger/Instagram, Telegram and Twilio, locally."""

import time

from django.core.management.base import BaseCommand

from inbox.sandbox import Sandbox
from inbox.sandbox.inboxes import register_active_inboxes


class Command(BaseCommand):
    help = (
        "Run the provider sandbox and register every active provider inbox as an account "
        "(re-read every few seconds, so new inboxes work)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8025)
        parser.add_argument("--refresh", type=float, default=3.0, help="seconds between re-reads")

    def handle(self, *args, host, port, refresh, **options):
        sandbox = Sandbox(host=host, port=port).start()
        self.stdout.write(f"Provider sandbox on {sandbox.url}. Point Switchboard at it with:")
        for name, path in (
            ("WHATSAPP_GRAPH_URL", "/graph"),
            ("MESSENGER_GRAPH_URL", "/graph"),
            ("TELEGRAM_API_URL", "/telegram"),
            ("TWILIO_API_URL", "/twilio"),
            ("SANDBOX_URL", ""),
        ):
            self.stdout.write(f"  {name}={sandbox.url}{path}")
        seen = {}
        try:
            while True:
                for name in register_active_inboxes(sandbox, seen):
                    self.stdout.write(f"Registered inbox {name!r}")
                time.sleep(refresh)
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()
