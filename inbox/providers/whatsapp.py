"""WhatsApp Business Cloud API: webhooks from Meta, sends through the Graph API."""

import re

from django.conf import settings

from inbox.providers.base import (
    FetchedMedia,
    InboundMedia,
    InboundMessage,
    OutcomeUnknown,
    ParsedDelivery,
    PayloadInvalid,
    PermanentSendError,
    RetryableSendError,
    Sender,
    SendResult,
    StatusUpdate,
    provider_call,
)
from inbox.providers.meta import (
    MetaAdapter,
    entries_of,
    from_seconds,
    http_client,
    load_json_object,
    media_content_type,
)

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
STATUSES = ("sent", "delivered", "read", "failed")
# What WhatsApp accepts as an `image` or `video`; other files go as a `document`.
IMAGE_TYPES = ("image/jpeg", "image/png")
VIDEO_TYPES = ("video/mp4", "video/3gpp")
# Only these carry a caption; audio (and stickers) cannot.
CAPTIONED_TYPES = ("image", "video", "document")
# Longer text cannot be a caption: it goes as a message of its own before the files.
MAX_CAPTION_LENGTH = 1024
TEMPLATE_PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
MAX_TEMPLATE_PAGES = 100


def _text(value):
    return str(value or "").strip()


def _contacts_text(cards):
    """Shared contact cards as lines a person can read: "Ana Díaz: +34 600 000 000"."""
    lines = []
    for card in cards:
        if not isinstance(card, dict):
            continue
        name = card.get("name") or {}
        label = _text(name.get("formatted_name")) or " ".join(
            _text(name.get(part)) for part in ("first_name", "last_name") if name.get(part)
        )
        phones = [_text(p.get("phone")) for p in card.get("phones") or [] if p.get("phone")]
        emails = [_text(e.get("email")) for e in card.get("emails") or [] if e.get("email")]
        details = ", ".join(phones + emails)
        lines.append(f"{label}: {details}" if label and details else label or details)
    return "\n".join(line for line in lines if line)


def _interactive(data):
    """An answer to a button or list message: its title as text, the ids as attributes."""
    kind = _text(data.get("type"))
    reply = data.get(kind) if isinstance(data.get(kind), dict) else {}
    title = _text(reply.get("title")) or _text(reply.get("body"))
    description = _text(reply.get("description"))
    body = f"{title}\n{description}" if title and description else title or description
    attributes = {"type": kind, "id": _text(reply.get("id"))}
    if title:
        attributes["title"] = title
    return body, attributes


def _failure_text(error):
    parts = []
    details = (error.get("error_data") or {}).get("details") if error else ""
    for part in (error.get("title"), error.get("message"), details):
        part = _text(part)
        if part and part not in parts:
            parts.append(part)
    return ": ".join(parts)


def _send_type(content_type):
    content_type = (content_type or "").lower()
    if content_type in IMAGE_TYPES:
        return "image"
    if content_type in VIDEO_TYPES:
        return "video"
    if content_type.startswith("audio/"):
        return "audio"
    return "document"


class WhatsAppAdapter(MetaAdapter):
    sends_read_marks = True
    kind = "whatsapp"
    service_window_hours = 24
    # Meta's default throughput for one number.
    max_per_second = 80
    retryable_codes = frozenset({130429, 131056, 80007, 4})

    @property
    def graph_base(self):
        return settings.WHATSAPP_GRAPH_URL

    def _auth(self):
        return {"Authorization": f"Bearer {self.secrets.get('access_token', '')}"}

    # -- inbound ---------------------------------------------------------------------------

    def parse(self, body, content_type):
        payload = load_json_object(body)
        delivery = ParsedDelivery()
        for entry in entries_of(payload, "whatsapp_business_account"):
            for change in entry.get("changes") or []:
                if not isinstance(change, dict) or change.get("field") != "messages":
                    continue
                value = change.get("value")
                if not isinstance(value, dict):
                    raise PayloadInvalid("A 'messages' change has no 'value' object.")
                names = {
                    _text(contact.get("wa_id")): _text((contact.get("profile") or {}).get("name"))
                    for contact in value.get("contacts") or []
                    if isinstance(contact, dict)
                }
                for message in value.get("messages") or []:
                    delivery.messages.append(self._parse_message(message, names))
                for status in value.get("statuses") or []:
                    update = self._parse_status(status)
                    if update:
                        delivery.statuses.append(update)
        return delivery

    def _parse_message(self, message, names):
        if not isinstance(message, dict) or not message.get("id") or not message.get("from"):
            raise PayloadInvalid("A WhatsApp message without 'id' or 'from'.")
        wa_id = _text(message["from"])
        sender = Sender(external_id=wa_id, name=names.get(wa_id, ""), phone=f"+{wa_id}")
        kind = _text(message.get("type"))
        data = message.get(kind) if isinstance(message.get(kind), dict) else {}
        body, media, attributes = "", (), {}

        if kind == "text":
            body = _text(data.get("body"))
        elif kind in MEDIA_TYPES:
            if not data.get("id"):
                raise PayloadInvalid(f"A WhatsApp {kind} message without a media id.")
            body = _text(data.get("caption"))
            media = (
                InboundMedia(
                    ref=str(data["id"]),
                    content_type=_text(data.get("mime_type")),
                    filename=_text(data.get("filename")),
                ),
            )
            if kind == "audio" and data.get("voice"):
                attributes["voice"] = True
            if kind == "sticker":
                attributes["sticker"] = {"animated": bool(data.get("animated"))}
        elif kind == "location":
            attributes["location"] = {
                key: data[key]
                for key in ("latitude", "longitude", "name", "address", "url")
                if data.get(key) not in (None, "")
            }
            body = "\n".join(_text(data.get(key)) for key in ("name", "address") if data.get(key))
        elif kind == "reaction":
            attributes["reaction"] = {
                "emoji": _text(data.get("emoji")),
                "message_id": _text(data.get("message_id")),
            }
        elif kind == "contacts":
            cards = message.get("contacts") or []
            body = _contacts_text(cards)
            attributes["contacts"] = cards
        elif kind == "interactive":
            body, attributes["interactive"] = _interactive(data)
        elif kind == "button":
            body = _text(data.get("text"))
            attributes["button"] = {"text": body, "payload": _text(data.get("payload"))}
        else:
            # Kinds WhatsApp itself cannot show us ("unsupported") or ones we do not read
            # yet still come from the customer: keep them visible as such.
            attributes["unsupported"] = {"type": kind}

        context = message.get("context")
        if isinstance(context, dict) and context.get("id"):
            attributes["in_reply_to"] = _text(context["id"])
        return InboundMessage(
            external_id=_text(message["id"]),
            sender=sender,
            body=body,
            timestamp=from_seconds(message.get("timestamp")),
            media=media,
            content_attributes=attributes,
        )

    def _parse_status(self, status):
        if not isinstance(status, dict) or status.get("status") not in STATUSES:
            return None
        if not status.get("id"):
            raise PayloadInvalid("A WhatsApp status without the message 'id'.")
        error_code, error_message = "", ""
        if status["status"] == "failed":
            errors = [e for e in status.get("errors") or [] if isinstance(e, dict)]
            if errors:
                code = errors[0].get("code")
                error_code = "" if code is None else str(code)
                error_message = _failure_text(errors[0])
        return StatusUpdate(
            status=status["status"],
            external_id=_text(status["id"]),
            timestamp=from_seconds(status.get("timestamp")),
            recipient=_text(status.get("recipient_id")),
            error_code=error_code,
            error_message=error_message,
        )

    # -- outbound --------------------------------------------------------------------------

    def send_message(self, message):
        """Send one reply: a template, text, or files (the text as the first file's caption).

        A reply with several files becomes several WhatsApp messages, one per file; the
        result carries the id of the *first* one (the one with the text), which is the one
        a customer's quoted reply points at. If a later part fails after an earlier one
        left, the reply is reported as OutcomeUnknown: retrying would repeat what arrived.
        """
        recipient = message.conversation.contact_identity.external_id
        base = {"messaging_product": "whatsapp", "to": recipient}
        reply_to = getattr(message.in_reply_to, "external_id", None)
        if reply_to:
            base["context"] = {"message_id": reply_to}

        template = (message.content_attributes or {}).get("template")
        attachments = list(message.attachments.all()) if message.pk else []
        with provider_call(), http_client() as client:
            if template:
                return SendResult(self._post_message(client, base, self._template(template)))
            if not attachments:
                return SendResult(self._post_message(client, base, self._text(message.body)))
            return SendResult(self._send_files(client, base, message.body, attachments))

    def _text(self, body):
        if not _text(body):
            raise PermanentSendError("There is nothing to send: the reply is empty.")
        return {"type": "text", "text": {"body": body}}

    def _template(self, template):
        language = template.get("language") or "en"
        if isinstance(language, dict):
            language = language.get("code") or "en"
        content = {"name": template.get("name", ""), "language": {"code": language}}
        parameters = template.get("parameters") or []
        if parameters:
            content["components"] = [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": str(p)} for p in parameters],
                }
            ]
        return {"type": "template", "template": content}

    def _send_files(self, client, base, body, attachments):
        parts = []
        caption = _text(body)
        first_type = _send_type(attachments[0].content_type)
        if caption and (first_type not in CAPTIONED_TYPES or len(body) > MAX_CAPTION_LENGTH):
            parts.append(self._text(body))
            caption = ""
        uploaded = [(self._upload(client, a), a) for a in attachments]
        for index, (media_id, attachment) in enumerate(uploaded):
            kind = _send_type(attachment.content_type)
            media = {"id": media_id}
            if index == 0 and caption:
                media["caption"] = body
            if kind == "document" and attachment.original_name:
                media["filename"] = attachment.original_name
            parts.append({"type": kind, kind: media})

        # Only the first part quotes the message this reply answers.
        unquoted = {key: value for key, value in base.items() if key != "context"}
        first_id = None
        for number, content in enumerate(parts, start=1):
            try:
                external_id = self._post_message(client, base if number == 1 else unquoted, content)
            except Exception as exc:
                if first_id is None:
                    raise
                reason = getattr(exc, "reason", str(exc))
                raise OutcomeUnknown(
                    f"Only {number - 1} of {len(parts)} parts of this reply were sent; "
                    f"the next failed: {reason}",
                    code=getattr(exc, "code", ""),
                ) from exc
            if first_id is None:
                first_id = external_id
        return first_id

    def _upload(self, client, attachment):
        """Upload one stored file to WhatsApp; its media id. Nothing reaches the customer."""
        try:
            with attachment.file.open("rb") as stored:
                content = stored.read()
        except (FileNotFoundError, ValueError) as missing:
            raise PermanentSendError(
                f"The file {attachment.original_name!r} is no longer stored."
            ) from missing
        response = client.post(
            self.graph_url(self.config.get("phone_number_id", ""), "media"),
            headers=self._auth(),
            data={"messaging_product": "whatsapp", "type": attachment.content_type},
            files={
                "file": (
                    attachment.original_name or "file",
                    content,
                    attachment.content_type or "application/octet-stream",
                )
            },
        )
        self.raise_for_error(response)
        media_id = _json(response).get("id")
        if not media_id:
            raise RetryableSendError("WhatsApp accepted the upload but returned no media id.")
        return str(media_id)

    def _post_message(self, client, base, content):
        response = client.post(
            self.graph_url(self.config.get("phone_number_id", ""), "messages"),
            headers=self._auth(),
            json={**base, **content},
        )
        self.raise_for_error(response)
        messages = _json(response).get("messages") or [{}]
        return str(messages[0].get("id") or "") or None

    def mark_read(self, message):
        """Show the customer blue ticks for their message (and every one before it)."""
        if not message.external_id:
            return None
        with provider_call(), http_client() as client:
            response = client.post(
                self.graph_url(self.config.get("phone_number_id", ""), "messages"),
                headers=self._auth(),
                json={
                    "messaging_product": "whatsapp",
                    "status": "read",
                    "message_id": message.external_id,
                },
            )
            self.raise_for_error(response)
        return None

    # -- media -----------------------------------------------------------------------------

    def fetch_media(self, media):
        """Ask WhatsApp where the file is, then download it with the same token.

        The link expires after five minutes: when it answers 404 or 410 we ask once more.
        """
        with provider_call(), http_client(follow_redirects=True) as client:
            info = self._media_info(client, media.ref)
            response, content = self.download(client, info["url"], headers=self._auth())
            if response.status_code in (404, 410):
                info = self._media_info(client, media.ref)
                response, content = self.download(client, info["url"], headers=self._auth())
            self.raise_for_error(response)
        return FetchedMedia(
            content=content,
            content_type=info.get("mime_type") or media_content_type(response, media.content_type),
            filename=media.filename,
        )

    def _media_info(self, client, media_id):
        response = client.get(self.graph_url(media_id), headers=self._auth())
        self.raise_for_error(response)
        info = _json(response)
        if not info.get("url"):
            raise PermanentSendError(f"WhatsApp gave no download link for media {media_id}.")
        size = str(info.get("file_size") or "")
        if size.isdigit() and int(size) > settings.INBOUND_MEDIA_MAX_BYTES:
            raise PermanentSendError("too large", code="too_large")
        return info

    # -- templates -------------------------------------------------------------------------

    def fetch_templates(self):
        """Every message template of the business account, following the pages.

        Each is `{name, language, status, category, body_text, parameter_count}`.
        """
        templates = []
        url = self.graph_url(self.config.get("waba_id", ""), "message_templates")
        seen = set()
        with provider_call(), http_client() as client:
            while url and url not in seen and len(seen) < MAX_TEMPLATE_PAGES:
                seen.add(url)
                response = client.get(url, headers=self._auth())
                self.raise_for_error(response)
                page = _json(response)
                templates.extend(_template_summary(t) for t in page.get("data") or [])
                url = (page.get("paging") or {}).get("next")
        return templates


def _json(response):
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _template_summary(template):
    body_text = ""
    for component in template.get("components") or []:
        if str(component.get("type", "")).upper() == "BODY":
            body_text = component.get("text") or ""
            break
    return {
        "name": template.get("name", ""),
        "language": template.get("language", ""),
        "status": template.get("status", ""),
        "category": template.get("category", ""),
        "body_text": body_text,
        "parameter_count": len(set(TEMPLATE_PLACEHOLDER.findall(body_text))),
    }
