from django.core.management.base import BaseCommand

from inbox.demo import DEMO_PASSWORD, DEMO_USERS, load_demo_data


class Command(BaseCommand):
    help = "Create the demo workspace (users, a website widget inbox, conversations). Idempotent."

    def handle(self, *args, **options):
        load_demo_data()
        for email, _name, role, _language in DEMO_USERS:
            self.stdout.write(f"  {email:<24} {role:<11} password: {DEMO_PASSWORD}")
