"""`manage.py serve` (what `make run` starts): the processes and the environment each gets.

Outside production the provider sandbox runs beside the app and every channel points at
it, so the demo's inboxes work offline; whatever the user set in the environment wins.
"""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from inbox.management.commands import serve
from inbox.management.commands.serve import plan_processes

SANDBOX = "http://127.0.0.1:8025"
POINTED_AT_SANDBOX = {
    "WHATSAPP_GRAPH_URL": f"{SANDBOX}/graph",
    "MESSENGER_GRAPH_URL": f"{SANDBOX}/graph",
    "TELEGRAM_API_URL": f"{SANDBOX}/telegram",
    "TWILIO_API_URL": f"{SANDBOX}/twilio",
    "SANDBOX_URL": SANDBOX,
    "EMAIL_HOST": "127.0.0.1",
    "EMAIL_PORT": "8026",
    "EMAIL_USE_TLS": "0",
}


def plan(environ=None, **kw):
    options = {
        "host": "127.0.0.1",
        "port": 8000,
        "embedded": True,
        "sandbox_port": 8025,
        "smtp_port": 8026,
        "environ": {"PATH": "/usr/bin"} if environ is None else environ,
        "python": "/venv/bin/python",
    }
    options.update(kw)
    return {process.name: process for process in plan_processes(**options)}


def test_embedded_demo_runs_the_sandbox_and_daphne_with_every_channel_pointed_at_it():
    processes = plan()

    assert list(processes) == ["sandbox", "web"]
    sandbox = processes["sandbox"]
    assert sandbox.command[0] == "/venv/bin/python"
    assert sandbox.command[1].endswith("manage.py")
    assert sandbox.command[2:] == [
        "sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        "8025",
        "--smtp-port",
        "8026",
    ]
    web = processes["web"]
    assert web.command[1:] == [
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        "8000",
        "inbox.asgi:application",
    ]
    assert web.env == {"PATH": "/usr/bin", **POINTED_AT_SANDBOX}


def test_with_redis_the_worker_and_beat_get_the_same_sandbox_settings_as_the_web():
    processes = plan(embedded=False, sandbox_port=9025, smtp_port=9026)

    assert list(processes) == ["sandbox", "web", "worker", "beat"]
    assert processes["sandbox"].command[-4:] == ["--port", "9025", "--smtp-port", "9026"]
    for name in ("web", "worker", "beat"):
        env = processes[name].env
        assert env["TELEGRAM_API_URL"] == "http://127.0.0.1:9025/telegram"
        assert env["SANDBOX_URL"] == "http://127.0.0.1:9025"
        assert (env["EMAIL_HOST"], env["EMAIL_PORT"], env["EMAIL_USE_TLS"]) == (
            "127.0.0.1",
            "9026",
            "0",
        )
    assert processes["worker"].command[1:5] == ["-m", "celery", "-A", "inbox"]


def test_values_the_user_set_are_kept():
    mine = {
        "PATH": "/usr/bin",
        "TELEGRAM_API_URL": "https://api.telegram.org",
        "EMAIL_HOST": "smtp.example.com",
    }

    env = plan(environ=mine)["web"].env

    assert env["TELEGRAM_API_URL"] == "https://api.telegram.org"
    assert env["WHATSAPP_GRAPH_URL"] == f"{SANDBOX}/graph"
    # Their own SMTP server keeps its port and TLS too.
    assert env["EMAIL_HOST"] == "smtp.example.com"
    assert "EMAIL_PORT" not in env
    assert "EMAIL_USE_TLS" not in env


def test_the_sandbox_process_itself_gets_the_environment_unchanged():
    assert plan()["sandbox"].env == {"PATH": "/usr/bin"}


def test_without_the_sandbox_nothing_is_pointed_at_it():
    processes = plan(sandbox_port=None)

    assert list(processes) == ["web"]
    assert processes["web"].env == {"PATH": "/usr/bin"}


def test_the_app_reads_what_serve_hands_over_as_smtp_without_tls_and_sandbox_urls():
    """inbox/settings.py, loaded in a fresh process with the environment serve gives daphne."""
    env = {**os.environ, **plan(environ=dict(os.environ))["web"].env, **POINTED_AT_SANDBOX}
    script = (
        "import inbox.settings as s; print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, "
        "s.EMAIL_USE_TLS, s.TELEGRAM_API_URL, s.SANDBOX_URL)"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "127.0.0.1",
        "8026",
        "False",
        f"{SANDBOX}/telegram",
        SANDBOX,
    ]


class Started:
    """Stands in for the processes serve would start; records what it was asked."""

    def __init__(self):
        self.started = []

    def popen(self, command, env, start_new_session):
        self.started.append((command, env))
        return self


@pytest.fixture
def no_processes(monkeypatch):
    started = Started()
    monkeypatch.setattr(serve.subprocess, "Popen", started.popen)
    monkeypatch.setattr(serve.Command, "_supervise", lambda self, processes: None)
    return started


def test_serve_starts_the_sandbox_and_prints_how_to_play_a_customer(no_processes, settings):
    settings.PRODUCTION = False
    out = StringIO()

    call_command("serve", "--sandbox-port", "18025", "--smtp-port", "18026", stdout=out)

    commands = [command for command, _env in no_processes.started]
    assert commands[0][2:7] == ["sandbox", "--host", "127.0.0.1", "--port", "18025"]
    text = out.getvalue()
    assert "http://127.0.0.1:18025" in text
    assert "manage.py simulate whatsapp WhatsApp" in text
    assert "admin@example.com" in text


@pytest.mark.parametrize("why", ["production", "--no-sandbox"])
def test_serve_runs_no_sandbox_in_production_or_when_told(no_processes, settings, why):
    settings.PRODUCTION = why == "production"
    args = ["--no-sandbox"] if why == "--no-sandbox" else []

    call_command("serve", *args, stdout=StringIO())

    assert "sandbox" not in [command[2] for command, _env in no_processes.started]
    assert all(env == dict(os.environ) for _command, env in no_processes.started)
