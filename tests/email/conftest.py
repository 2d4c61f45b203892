"""Real mail servers for the e-mail channel's tests.

`smtp_server` is an aiosmtpd server on a free local port that records what it receives
and can be told to refuse a recipient, refuse the message or hang up mid-DATA; Django's
SMTP backend is pointed at it. `dovecot` is a private Debian dovecot (IMAP only, no TLS)
in its own process group, one per session; each test gets its own mailbox user.

Without the dovecot binary the IMAP tests are skipped on a developer's machine and fail
in CI, where a missing service is an error, never a reason to skip.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from imapclient import IMAPClient

from inbox.sandbox.smtp import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
IMAP_PASSWORD = "mailbox-password"


# -- SMTP ------------------------------------------------------------------------------------


@dataclass
class RecordingSMTPHandler:
    """Accepts mail and keeps it; each behaviour below is a reply a real server gives."""

    received: list = field(default_factory=list)
    rcpt_reply: str = ""  # e.g. "550 5.1.1 No such user": refuse every recipient
    data_reply: str = ""  # e.g. "554 5.7.1 Rejected as spam": refuse the message
    hang_up_in_data: bool = False  # close the connection instead of answering DATA

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.hang_up_in_data:
            server.transport.close()
            return "421 closing"
        if self.data_reply:
            return self.data_reply
        self.received.append(envelope)
        return "250 2.0.0 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    handler = RecordingSMTPHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield handler
    finally:
        controller.stop()


# -- IMAP ------------------------------------------------------------------------------------

DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


@dataclass
class Dovecot:
    host: str
    port: int
    root: Path

    def new_user(self):
        """A mailbox of its own for one test."""
        return f"user-{uuid.uuid4().hex[:12]}"

    def client(self, user):
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, IMAP_PASSWORD)
        return client

    def inbox_config(self, user, **overrides):
        return {
            "address": "support@acme.test",
            "imap_host": self.host,
            "imap_port": self.port,
            "imap_user": user,
            "imap_mailbox": "INBOX",
            "imap_ssl": False,
            **overrides,
        }


def _mail_owner():
    """Whom dovecot runs mail processes as: `nobody` under root (it refuses uid 0)."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid, "dovenull", "dovecot"
    me = pwd.getpwuid(os.geteuid())
    return me.pw_uid, me.pw_gid, me.pw_name, me.pw_name


def _wait_for_greeting(port, process, log, deadline=10.0):
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                if connection.recv(256).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.02)
    detail = log.read_text() if log.exists() else "(no log)"
    raise RuntimeError(f"dovecot did not greet on port {port}:\n{detail}")


@pytest.fixture(scope="session")
def dovecot():
    if not os.path.exists(DOVECOT):
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed: in CI every test runs against it", pytrace=False)
        pytest.skip("needs Debian's dovecot-imapd (/usr/sbin/dovecot)")
    # Short: dovecot's Unix socket paths must stay under ~100 bytes.
    root = Path(tempfile.mkdtemp(prefix="sbdc-", dir="/tmp"))
    root.chmod(0o755)
    uid, gid, login_user, internal_user = _mail_owner()
    home = root / "home"
    home.mkdir()
    os.chown(home, uid, gid)
    port = free_port()
    conf = root / "dovecot.conf"
    conf.write_text(
        DOVECOT_CONF.format(
            root=root,
            port=port,
            uid=uid,
            gid=gid,
            login_user=login_user,
            internal_user=internal_user,
            password=IMAP_PASSWORD,
        )
    )
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, stopped as a whole
    )
    try:
        _wait_for_greeting(port, process, root / "dovecot.log")
        yield Dovecot(host="127.0.0.1", port=port, root=root)
    finally:
        with_group = process.pid
        try:
            os.killpg(with_group, signal.SIGTERM)
            process.wait(timeout=5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(with_group, signal.SIGKILL)
            process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()
        shutil.rmtree(root, ignore_errors=True)
