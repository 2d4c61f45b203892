"""The sandbox's mail server: an SMTP server that accepts every message and keeps it.

The demo's e-mail inbox sends its replies here (Django's SMTP backend, no TLS, no login),
so nothing leaves the machine; `Sandbox.mail()` and `GET /_control/mail` show what came.
"""

import logging
import socket
import threading
import time
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller


def free_port(host="127.0.0.1"):
    """A port nobody listens on now. aiosmtpd cannot bind port 0: it connects to its own
    port once to check that the server is up, so it needs the real number beforehand."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class _KeepingHandler:
    def __init__(self, server):
        self.server = server

    async def handle_DATA(self, smtp, session, envelope):
        self.server._keep(
            peer=session.peer,
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            content=bytes(envelope.original_content or envelope.content or b""),
        )
        return "250 2.0.0 Message accepted for delivery"


class MailServer:
    """SMTP on `host:port` (0: a free port), keeping each message as it was received."""

    def __init__(self, host="127.0.0.1", port=0):
        self.host = host
        self.port = port
        self._controller = None
        self._mail = []
        self._changed = threading.Condition()

    def start(self):
        # aiosmtpd logs every connection at INFO; the sandbox keeps quiet unless asked.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        if not self.port:
            self.port = free_port(self.host)
        self._controller = Controller(_KeepingHandler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _keep(self, *, peer, mail_from, rcpt_tos, content):
        headers = BytesParser(policy=policy.default).parsebytes(content, headersonly=True)
        with self._changed:
            self._mail.append(
                {
                    "id": len(self._mail) + 1,
                    "received_at": time.time(),
                    "peer": f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer),
                    "mail_from": mail_from,
                    "rcpt_tos": rcpt_tos,
                    "subject": str(headers.get("Subject", "")),
                    "message_id": str(headers.get("Message-ID", "")),
                    "content": content,
                }
            )
            self._changed.notify_all()

    def mail(self, to=None):
        """Messages received so far, oldest first (`to`: only those for this address)."""
        with self._changed:
            return [
                dict(m)
                for m in self._mail
                if to is None or to.lower() in (r.lower() for r in m["rcpt_tos"])
            ]

    def wait_for_mail(self, count, to=None, timeout=5):
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.mail(to)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.mail(to))} messages received, wanted {count}")
                self._changed.wait(left)
            return self.mail(to)

    def clear(self):
        with self._changed:
            self._mail.clear()
