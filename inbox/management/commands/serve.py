"""Start everything Switchboard needs in the foreground; Ctrl-C stops it all.

Outside production it also starts the provider sandbox (`manage.py sandbox`) and points
every channel at it, so the demo's WhatsApp, Messenger, Instagram, Telegram, SMS and
e-mail inboxes work offline.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand

from inbox.demo import DEMO_PASSWORD, DEMO_USERS
from inbox.management.commands.sandbox import DEFAULT_PORT, DEFAULT_SMTP_PORT
from inbox.sandbox.inboxes import settings_for_sandbox

# The provider sandbox listens on the loopback interface only, whatever --host says.
SANDBOX_HOST = "127.0.0.1"
# Outgoing mail is one group: a user who set their own SMTP server keeps all of it.
EMAIL_SETTINGS = ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_USE_TLS")


@dataclass
class Process:
    name: str
    command: list
    # The environment this process gets (the caller's, plus what points it at the sandbox).
    env: dict


def sandbox_url(sandbox_port):
    return f"http://{SANDBOX_HOST}:{sandbox_port}"


def sandbox_environment(sandbox_port, smtp_port, environ):
    """What points the app processes at the sandbox, leaving alone anything `environ` sets."""
    wanted = settings_for_sandbox(sandbox_url(sandbox_port), smtp_port)
    if "EMAIL_HOST" in environ:
        wanted = {k: v for k, v in wanted.items() if k not in EMAIL_SETTINGS}
    return {name: value for name, value in wanted.items() if name not in environ}


def plan_processes(
    *, host, port, embedded, sandbox_port=None, smtp_port=None, environ=None, python=None
):
    """The processes `serve` starts, in order, each with its command line and environment.

    `sandbox_port` None: no sandbox. `embedded`: no Celery processes (tasks run in the web
    process).
    """
    environ = dict(os.environ if environ is None else environ)
    python = python or sys.executable
    app_env = dict(environ)
    processes = []
    if sandbox_port is not None:
        processes.append(
            Process(
                "sandbox",
                [
                    python,
                    str(settings.BASE_DIR / "manage.py"),
                    "sandbox",
                    "--host",
                    SANDBOX_HOST,
                    "--port",
                    str(sandbox_port),
                    "--smtp-port",
                    str(smtp_port or DEFAULT_SMTP_PORT),
                ],
                dict(environ),
            )
        )
        app_env.update(sandbox_environment(sandbox_port, smtp_port or DEFAULT_SMTP_PORT, environ))
    processes.append(
        Process(
            "web",
            [python, "-m", "daphne", "-b", host, "-p", str(port), "inbox.asgi:application"],
            app_env,
        )
    )
    if not embedded:
        celery = [python, "-m", "celery", "-A", "inbox"]
        processes.append(
            Process("worker", [*celery, "worker", "--loglevel=INFO", "--concurrency=2"], app_env)
        )
        processes.append(
            Process(
                "beat",
                [
                    *celery,
                    "beat",
                    "--loglevel=INFO",
                    "--schedule",
                    str(settings.LOCAL_DIR / "celerybeat-schedule"),
                ],
                app_env,
            )
        )
    return processes


class Command(BaseCommand):
    help = (
        "Run the ASGI server (daphne), plus a Celery worker and beat when REDIS_URL is set, "
        "and, outside production, the provider sandbox every channel is pointed at."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument(
            "--no-sandbox",
            action="store_true",
            help="do not start the provider sandbox (never started in production)",
        )
        parser.add_argument(
            "--sandbox-port", type=int, default=int(os.environ.get("SANDBOX_PORT", DEFAULT_PORT))
        )
        parser.add_argument(
            "--smtp-port",
            type=int,
            default=int(os.environ.get("SANDBOX_SMTP_PORT", DEFAULT_SMTP_PORT)),
            help="port of the sandbox's SMTP server",
        )

    def handle(self, *args, host, port, no_sandbox, sandbox_port, smtp_port, **options):
        use_sandbox = not (settings.PRODUCTION or no_sandbox)
        plan = plan_processes(
            host=host,
            port=port,
            embedded=settings.EMBEDDED,
            sandbox_port=sandbox_port if use_sandbox else None,
            smtp_port=smtp_port,
        )
        processes = {
            process.name: subprocess.Popen(  # noqa: S603
                process.command, env=process.env, start_new_session=True
            )
            for process in plan
        }
        self._print_welcome(processes, sandbox_port if use_sandbox else None, smtp_port)
        self._supervise(processes)

    def _print_welcome(self, processes, sandbox_port, smtp_port):
        mode = "embedded (SQLite, in-process tasks)" if settings.EMBEDDED else "PostgreSQL + Redis"
        self.stdout.write(self.style.SUCCESS(f"\nSwitchboard is running at {settings.PUBLIC_URL}/"))
        self.stdout.write(f"  mode: {mode}; processes: {', '.join(processes)}")
        self.stdout.write(f"  widget demo page: {settings.PUBLIC_URL}/widget/demo/")
        self.stdout.write("  demo logins (demo only):")
        for email, _name, role, _language in DEMO_USERS:
            self.stdout.write(f"    {email:<24} {role:<11} {DEMO_PASSWORD}")
        if sandbox_port is not None:
            url = sandbox_url(sandbox_port)
            self.stdout.write(
                f"  provider sandbox (demo only): {url}, SMTP on {SANDBOX_HOST}:{smtp_port}; "
                f"mail the e-mail inbox sent: {url}/_control/mail"
            )
            self.stdout.write(
                '  try it: python manage.py simulate whatsapp WhatsApp "Hola, ¿hacéis envíos?"'
            )
            self.stdout.write(
                "    (or messenger, instagram, telegram, twilio_sms, twilio_whatsapp, email; "
                "python manage.py list_inboxes shows every inbox)"
            )
        self.stdout.write("  Ctrl-C stops everything.\n")

    def _supervise(self, processes):
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
                        if name == "sandbox":
                            self.stderr.write(
                                "  (Is its port taken? Set SANDBOX_PORT / SANDBOX_SMTP_PORT, "
                                "or run without it: manage.py serve --no-sandbox.)"
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
