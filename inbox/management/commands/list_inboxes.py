"""Print each inbox's webhook URL and the tokens a provider console asks for."""

from django.core.management.base import BaseCommand

from inbox.models import Inbox
from inbox.sandbox.inboxes import webhook_url


class Command(BaseCommand):
    help = "List inboxes: kind, name, webhook URL, verify token or secret token."

    def handle(self, *args, **options):
        for inbox in Inbox.objects.order_by("kind", "name"):
            secrets = inbox.provider_secrets or {}
            config = inbox.provider_config or {}
            state = "" if inbox.is_active else " (inactive)"
            self.stdout.write(f"{inbox.kind}\t{inbox.name}{state}")
            self.stdout.write(f"  webhook URL:   {webhook_url(inbox)}")
            if "verify_token" in secrets:
                self.stdout.write(f"  verify token:  {secrets['verify_token']}")
            if inbox.kind == "telegram":
                self.stdout.write(f"  mode:          {config.get('mode', 'webhook')}")
                self.stdout.write(f"  secret token:  {secrets.get('secret_token', '')}")
            if "from_number" in config:
                self.stdout.write(f"  number:        {config['from_number']}")
            if "address" in config:
                self.stdout.write(f"  address:       {config['address']}")
            if inbox.kind == "web_widget":
                self.stdout.write(f"  public token:  {inbox.public_token}")
