"""Mails shaped like the ones real clients send, as raw RFC 822 bytes."""

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def plain_mail(
    body="Hello, my order has not arrived.",
    *,
    subject="Where is my order?",
    sender="Ana García <ana@customer.test>",
    to="Acme Support <support@acme.test>",
    message_id="<first.1@customer.test>",
    date=datetime(2024, 6, 3, 10, 2, tzinfo=UTC),
    **headers,
):
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    if message_id:
        mail["Message-ID"] = message_id
    mail["Date"] = format_datetime(date)
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail
