"""Play a customer writing into a running Switchboard, signed as the provider signs."""

import mimetypes
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from inbox.models import Inbox
from inbox.sandbox import payloads
from inbox.sandbox.inboxes import webhook_url

DEFAULT_FROM = {
    "whatsapp": "16505551234",
    "messenger": "24000000000000001",
    "instagram": "5300000000000001",
    "telegram": "555001",
    "twilio_sms": "+16505551234",
    "twilio_whatsapp": "whatsapp:+16505551234",
    "email": "customer@example.com",
}


class Command(BaseCommand):
    help = "A customer writes into an inbox: posts the provider's signed delivery to its webhook."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(DEFAULT_FROM))
        parser.add_argument("inbox", help="the inbox's name or public token")
        parser.add_argument("text")
        parser.add_argument("--from", dest="sender", help="the customer's id, number or address")
        parser.add_argument("--name", default="Ana Customer", help="the customer's name")
        parser.add_argument("--image", type=Path, help="a file the customer attaches")

    def handle(self, *args, kind, inbox, text, sender, name, image, **options):
        found = Inbox.objects.filter(kind=kind).filter(Q(name=inbox) | Q(public_token=inbox))
        target = found.first()
        if target is None:
            raise CommandError(f"No {kind} inbox named {inbox!r}.")
        sender = sender or DEFAULT_FROM[kind]
        if image is not None and not image.is_file():
            raise CommandError(f"No such file: {image}")
        if kind == "email":
            self._email(target, sender, name, text, image)
            return
        try:
            response = getattr(self, f"_{kind}")(target, sender, name, text, image)
        except httpx.HTTPError as exc:
            raise CommandError(f"Could not post the delivery: {exc}") from exc
        if response is None:
            self.stdout.write("Queued on the sandbox for getUpdates.")
            return
        self.stdout.write(f"Posted to {response.request.url}: {response.status_code}")
        if response.status_code >= 300:
            raise CommandError(
                f"The webhook answered {response.status_code}: {response.text[:200]}"
            )

    # -- media -----------------------------------------------------------------------------

    def _host(self, image, owner=None):
        content_type = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
        params = {"filename": image.name}
        if owner:
            params["owner"] = owner
        try:
            response = httpx.post(
                f"{settings.SANDBOX_URL}/_control/media",
                params=params,
                content=image.read_bytes(),
                headers={"Content-Type": content_type},
                timeout=10,
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise CommandError(
                f"Media needs the sandbox at SANDBOX_URL={settings.SANDBOX_URL} "
                f"(`manage.py sandbox`): {exc}"
            ) from exc
        return response.json()

    @staticmethod
    def _post(url, body, headers):
        return httpx.post(url, content=body, headers=headers, timeout=20)

    # -- one per kind ----------------------------------------------------------------------

    def _whatsapp(self, inbox, sender, name, text, image):
        config, secrets = inbox.provider_config, inbox.provider_secrets
        media = None
        if image is not None:
            hosted = self._host(image, owner=config["phone_number_id"])
            media = {
                "type": "image" if hosted["content_type"].startswith("image/") else "document",
                "mime_type": hosted["content_type"],
                "sha256": hosted["sha256"],
                "id": hosted["id"],
            }
            if media["type"] == "document":
                media["filename"] = image.name
            if text:
                media["caption"] = text
        body, headers = payloads.whatsapp_message(
            secrets["app_secret"],
            config["phone_number_id"],
            sender,
            text=text,
            media=media,
            name=name,
            waba_id=config.get("waba_id", ""),
            display_phone_number=config.get("display_phone_number", ""),
        )
        return self._post(webhook_url(inbox), body, headers)

    def _attachments(self, image):
        if image is None:
            return None
        hosted = self._host(image)
        kind = "image" if hosted["content_type"].startswith("image/") else "file"
        return [(kind, hosted["url"])]

    def _messenger(self, inbox, sender, name, text, image):
        body, headers = payloads.messenger_message(
            inbox.provider_secrets["app_secret"],
            inbox.provider_config["page_id"],
            sender,
            text=text,
            attachments=self._attachments(image),
        )
        return self._post(webhook_url(inbox), body, headers)

    def _instagram(self, inbox, sender, name, text, image):
        config = inbox.provider_config
        body, headers = payloads.instagram_message(
            inbox.provider_secrets["app_secret"],
            config.get("instagram_account_id") or config["page_id"],
            sender,
            text=text,
            attachments=self._attachments(image),
        )
        return self._post(webhook_url(inbox), body, headers)

    def _telegram(self, inbox, sender, name, text, image):
        secrets, config = inbox.provider_secrets, inbox.provider_config
        chat_id = int(sender)
        first_name = name.split()[0] if name else "Ana"
        if config.get("mode") == "polling":
            payload = {
                "provider": "telegram",
                "bot_token": secrets["bot_token"],
                "chat_id": chat_id,
                "text": text,
                "first_name": first_name,
            }
            if image is not None:
                payload["media_id"] = self._host(image)["id"]
            try:
                response = httpx.post(
                    f"{settings.SANDBOX_URL}/_control/customer_writes", json=payload, timeout=20
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise CommandError(
                    f"A polling bot reads from the sandbox at {settings.SANDBOX_URL}: {exc}"
                ) from exc
            return None
        photo = None
        if image is not None:
            hosted = self._host(image)
            photo = {
                "file_id": hosted["file_id"],
                "file_unique_id": hosted["file_unique_id"],
                "file_size": hosted["size"],
                "width": 1280,
                "height": 960,
            }
        self._tell_sandbox_about_chat(secrets["bot_token"], chat_id, first_name)
        update_id = int(time.time() * 1000) % 2_000_000_000
        body, headers = payloads.telegram_update(
            secrets.get("secret_token"),
            update_id,
            chat_id,
            text=text,
            photo=photo,
            message_id=update_id % 1_000_000,
            first_name=first_name,
        )
        return self._post(webhook_url(inbox), body, headers)

    def _tell_sandbox_about_chat(self, bot_token, chat_id, first_name):
        """So the bot may answer this chat on the sandbox (when it runs)."""
        try:
            httpx.post(
                f"{settings.SANDBOX_URL}/_control/telegram/chats",
                json={
                    "bot_token": bot_token,
                    "chat_id": chat_id,
                    "user": {"first_name": first_name},
                },
                timeout=5,
            )
        except httpx.HTTPError:
            self.stderr.write(f"(No sandbox at {settings.SANDBOX_URL}: replies will not reach it.)")

    def _twilio(self, inbox, sender, name, text, image):
        config = inbox.provider_config
        url = webhook_url(inbox)
        media_urls, media_types = [], []
        if image is not None:
            hosted = self._host(image)
            media_urls.append(hosted["url"])
            media_types.append(hosted["content_type"])
        keyword = None if sender.startswith("whatsapp:") else payloads.sms_keyword_type(text)
        params = payloads.twilio_message_params(
            sender,
            config["from_number"],
            text,
            account_sid=config["account_sid"],
            media_urls=media_urls,
            media_types=media_types,
            profile_name=name,
            opt_out_type=keyword,
        )
        body, headers = payloads.twilio_form(inbox.provider_secrets["auth_token"], url, params)
        return self._post(url, body, headers)

    _twilio_sms = _twilio_whatsapp = _twilio

    def _email(self, inbox, sender, name, text, image):
        """Hand the mail over as the IMAP poller does: stored as an inbound event, then
        applied by the task that applies every delivery."""
        from inbox.celery import app as celery_app
        from inbox.inbound import accept_delivery, apply_inbound_event
        from inbox.models import InboundEventStatus

        message = EmailMessage()
        message["From"] = f"{name} <{sender}>" if name else sender
        message["To"] = inbox.provider_config.get("address", "support@example.com")
        message["Subject"] = text[:60]
        message["Message-ID"] = make_msgid(domain="customer.example")
        message["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        message.set_content(text)
        if image is not None:
            kind = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
            main, sub = kind.split("/", 1)
            message.add_attachment(
                image.read_bytes(), maintype=main, subtype=sub, filename=image.name
            )
        accepted = accept_delivery(inbox, body=message.as_bytes(), content_type="message/rfc822")
        if not celery_app.conf.task_always_eager:
            self.stdout.write(
                f"Stored {message['Message-ID']} for {inbox.name}; the worker applies it."
            )
            return
        # Embedded mode runs tasks where they are enqueued: here. The enqueue on commit has
        # normally applied it already (then this finds it processed and does nothing), but
        # inside a transaction, or when the eager task swallowed an error, it has not.
        event = apply_inbound_event(accepted.event.pk)
        if event.status == InboundEventStatus.FAILED:
            raise CommandError(f"The mail was stored but could not be applied: {event.error}")
        self.stdout.write(
            f"Delivered {message['Message-ID']} to {inbox.name}. (Embedded mode: it was "
            "applied by this command, so open pages show it when they reload.)"
        )
