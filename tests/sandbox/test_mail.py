"""The sandbox's SMTP server: it accepts the mail Django's SMTP backend sends and keeps it,
readable from Python (`Sandbox.mail()`) and from the control API (`GET /_control/mail`)."""

import os
import signal
import subprocess
import sys
import time
from email import policy
from email.parser import BytesParser
from io import StringIO

import httpx
import pytest
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.management import call_command

from conversations import services as conversation_services
from conversations.models import Message
from inbox.models import Inbox, InboxKind, Role
from inbox.providers import adapter_for
from inbox.sandbox import Sandbox
from inbox.sandbox.smtp import free_port


@pytest.fixture
def mail_sandbox():
    with Sandbox(smtp_port=0) as sb:
        yield sb


def smtp_connection(port):
    return get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host="127.0.0.1",
        port=port,
        username="",
        password="",
        use_tls=False,
        timeout=5,
    )


def send(port, subject="Your order", to=("emma@example.net",), body="It ships today."):
    EmailMessage(
        subject, body, "support@switchboard.localhost", list(to), connection=smtp_connection(port)
    ).send()


def test_mail_sent_over_smtp_is_kept_with_its_envelope_and_bytes(mail_sandbox):
    send(mail_sandbox.smtp_port, to=["emma@example.net", "noah@example.com"])

    [mail] = mail_sandbox.wait_for_mail(1)
    assert mail["mail_from"] == "support@switchboard.localhost"
    assert mail["rcpt_tos"] == ["emma@example.net", "noah@example.com"]
    assert mail["subject"] == "Your order"
    parsed = BytesParser(policy=policy.default).parsebytes(mail["content"])
    assert parsed.get_content().strip() == "It ships today."
    assert mail_sandbox.mail(to="Noah@Example.com") == [mail]
    assert mail_sandbox.mail(to="nobody@example.com") == []


def test_the_control_api_lists_the_mail_and_reset_forgets_it(mail_sandbox):
    send(mail_sandbox.smtp_port, subject="First")
    send(mail_sandbox.smtp_port, subject="Second", to=["noah@example.com"])
    mail_sandbox.wait_for_mail(2)

    listed = httpx.get(f"{mail_sandbox.url}/_control/mail").json()
    assert [m["subject"] for m in listed] == ["First", "Second"]
    assert "It ships today." in listed[0]["content"]
    only_noah = httpx.get(f"{mail_sandbox.url}/_control/mail", params={"to": "noah@example.com"})
    assert [m["subject"] for m in only_noah.json()] == ["Second"]

    httpx.post(f"{mail_sandbox.url}/_control/reset", json={})
    assert httpx.get(f"{mail_sandbox.url}/_control/mail").json() == []


def test_a_sandbox_without_smtp_has_no_mail(sandbox):
    assert sandbox.smtp_port is None
    assert httpx.get(f"{sandbox.url}/_control/mail").json() == []


@pytest.mark.django_db
def test_the_demo_e_mail_inbox_answers_a_simulated_customer_through_the_sandbox(
    mail_sandbox, settings, tmp_path, make_user
):
    """The whole demo loop: `simulate email` in, an agent's reply out to the sandbox."""
    settings.MEDIA_ROOT = tmp_path
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = mail_sandbox.smtp_port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    inbox = Inbox.objects.create(
        name="E-mail", kind=InboxKind.EMAIL, provider_config={"address": "support@demo.test"}
    )
    agent = make_user(Role.AGENT, inboxes=[inbox])
    call_command(
        "simulate", "email", "E-mail", "Where is my order?", "--from", "emma@example.net",
        stdout=StringIO(),
    )  # fmt: skip
    conversation = Message.objects.get(inbox=inbox).conversation

    reply = conversation_services.send_reply(agent, conversation, "It ships today.")
    adapter_for(inbox).send_message(reply)

    [mail] = mail_sandbox.wait_for_mail(1, to="emma@example.net")
    assert mail["mail_from"] == "support@demo.test"
    assert mail["subject"] == "Re: Where is my order?"


# -- `manage.py sandbox` as its own process --------------------------------------------------


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


def test_manage_py_sandbox_runs_an_smtp_server_whose_mail_the_control_api_shows(tmp_path):
    port, smtp_port = free_port(), free_port()
    env = {
        **os.environ,
        # A database without tables: the sandbox serves anyway and waits for the inboxes.
        "SQLITE_PATH": str(tmp_path / "not-migrated.sqlite3"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)
    log = (tmp_path / "sandbox.log").open("w")
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "manage.py",
            "sandbox",
            "--port",
            str(port),
            "--smtp-port",
            str(smtp_port),
            "--refresh",
            "0.5",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: httpx.get(f"{url}/_control/mail").status_code == 200,
            30,
            f"the sandbox did not answer (log: {tmp_path / 'sandbox.log'})",
        )

        send(smtp_port, subject="Smoke test")

        wait_for(
            lambda: (
                [m["subject"] for m in httpx.get(f"{url}/_control/mail").json()] == ["Smoke test"]
            ),
            10,
            "the mail did not show up on the control API",
        )
        [mail] = httpx.get(f"{url}/_control/mail").json()
        assert mail["rcpt_tos"] == ["emma@example.net"]
        assert "It ships today." in mail["content"]
        assert process.poll() is None
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
    output = (tmp_path / "sandbox.log").read_text()
    assert f"EMAIL_PORT={smtp_port}" in output
    assert "EMAIL_USE_TLS=0" in output
