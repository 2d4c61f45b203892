"""Start everything Switchboard needs in the foreground; Ctrl-C stops it all."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from inbox.demo import DEMO_PASSWORD, DEMO_USERS


class Command(BaseCommand):
    help = "Run the ASGI server (daphne), plus a Celery worker and beat when REDIS_URL is set."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.PORT)

    def handle(self, *args, host, port, **options):
        python = sys.executable
        commands = {
            "web": [python, "-m", "daphne", "-b", host, "-p", str(port), "inbox.asgi:application"],
        }
        if not settings.EMBEDDED:
            celery = [python, "-m", "celery", "-A", "inbox"]
            commands["worker"] = [*celery, "worker", "--loglevel=INFO", "--concurrency=2"]
            commands["beat"] = [
                *celery,
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(settings.LOCAL_DIR / "celerybeat-schedule"),
            ]
        processes = {
            name: subprocess.Popen(command, start_new_session=True)  # noqa: S603
            for name, command in commands.items()
        }
        mode = "embedded (SQLite, in-process tasks)" if settings.EMBEDDED else "PostgreSQL + Redis"
        self.stdout.write(self.style.SUCCESS(f"\nSwitchboard is running at {settings.PUBLIC_URL}/"))
        self.stdout.write(f"  mode: {mode}; processes: {', '.join(processes)}")
        self.stdout.write(f"  widget demo page: {settings.PUBLIC_URL}/widget/demo/")
        self.stdout.write("  demo logins (demo only):")
        for email, _name, role, _language in DEMO_USERS:
            self.stdout.write(f"    {email:<24} {role:<11} {DEMO_PASSWORD}")
        self.stdout.write("  Ctrl-C stops everything.\n")

        stopping = False

        def stop(*_args):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(
                            f"{name} exited with code {process.returncode}; stopping."
                        )
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
