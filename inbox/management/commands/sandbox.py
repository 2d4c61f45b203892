"""Run the provider sandbox: WhatsApp, Messenger/Instagram, Telegram, Twilio and an SMTP
server, locally."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from inbox.sandbox import Sandbox
from inbox.sandbox.inboxes import register_active_inboxes, settings_for_sandbox

DEFAULT_PORT = 8025
DEFAULT_SMTP_PORT = 8026


class Command(BaseCommand):
    help = (
        "Run the provider sandbox and its SMTP server, and register every active provider "
        "inbox as an account (re-read every few seconds, so new inboxes work)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=DEFAULT_PORT)
        parser.add_argument(
            "--smtp-port",
            type=int,
            default=DEFAULT_SMTP_PORT,
            help="port of the SMTP server that keeps the mail it is sent",
        )
        parser.add_argument("--refresh", type=float, default=3.0, help="seconds between re-reads")

    def handle(self, *args, host, port, smtp_port, refresh, **options):
        try:
            sandbox = Sandbox(host=host, port=port, smtp_port=smtp_port).start()
        except OSError as exc:
            raise CommandError(
                f"The sandbox could not listen on {host}:{port} / SMTP {smtp_port}: {exc}"
            ) from exc
        self.stdout.write(
            f"Provider sandbox on {sandbox.url}, SMTP on {host}:{sandbox.smtp_port}. "
            "Point Switchboard at it with:"
        )
        for name, value in settings_for_sandbox(sandbox.url, sandbox.smtp_port).items():
            self.stdout.write(f"  {name}={value}")
        self.stdout.write(f"Mail it received: {sandbox.url}/_control/mail")
        seen = {}
        waiting_for_database = False
        try:
            while True:
                try:
                    for name in register_active_inboxes(sandbox, seen):
                        self.stdout.write(f"Registered inbox {name!r}")
                    waiting_for_database = False
                except DatabaseError as exc:
                    # Not migrated yet, or briefly unavailable: the providers still answer,
                    # and the inboxes are registered once the database does.
                    if not waiting_for_database:
                        self.stderr.write(f"Cannot read the inboxes yet ({exc}); retrying.")
                    waiting_for_database = True
                    close_old_connections()
                time.sleep(refresh)
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()
