"""Telegram bots through the Bot API: a webhook (or polling), sends, and file downloads.

A customer is one chat: `Sender.external_id` is the chat id, which is also where replies
go. Messages are named "<chat id>:<message id>", unique within a bot.

Edits. Telegram delivers an edit as a new update carrying the whole message again
(`edited_message`, with `edit_date`). Switchboard never rewrites what a customer already
said: each edit is stored as its own message, named "<chat>:<message>:edit:<edit_date>"
(so a repeated delivery of the same edit is stored once, and a later edit is new), with
content_attributes {"edited": true, "edit_of": "<chat>:<message>"}.
"""

import json
import mimetypes
import posixpath
from datetime import UTC, datetime

import httpx
from django.conf import settings

from inbox.providers.base import (
    FetchedMedia,
    InboundMedia,
    InboundMessage,
    OutcomeUnknown,
    ParsedDelivery,
    PayloadInvalid,
    PermanentSendError,
    ProviderAdapter,
    RetryableSendError,
    Sender,
    SendResult,
    SignatureInvalid,
    constant_time_equal,
    provider_call,
    retry_after_seconds,
)
from inbox.providers.downloads import media_type, read_limited, too_large

WEBHOOK_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram cuts captions at 1024 characters; a longer text goes as its own message.
CAPTION_MAX_LENGTH = 1024
# Formats Telegram shows as a photo; other images (GIF, SVG, HEIC…) go as documents.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
# The updates a Switchboard bot asks for: what customers write, and their edits.
ALLOWED_UPDATES = ("message", "edited_message")
# Files that come with a message, with the type Telegram omits for some of them.
FILE_FIELDS = (
    ("document", "application/octet-stream"),
    ("voice", "audio/ogg"),
    ("audio", "audio/mpeg"),
    ("video", "video/mp4"),
    ("video_note", "video/mp4"),
)


class TelegramAdapter(ProviderAdapter):
    kind = "telegram"
    min_interval_per_chat = 1.0
    max_per_second = 30

    # -- inbound ---------------------------------------------------------------------------

    def verify_request(self, request, body):
        expected = self.secrets.get("secret_token", "")
        given = request.headers.get(WEBHOOK_HEADER, "")
        if not expected or not given or not constant_time_equal(given, expected):
            raise SignatureInvalid("The Telegram secret token is missing or wrong.")

    def delivery_key(self, body, content_type):
        try:
            update = json.loads(body)
        except (ValueError, RecursionError):
            update = None
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if _is_int(update_id):
            return f"update:{update_id}"
        return super().delivery_key(body, content_type)

    def parse(self, body, content_type):
        try:
            update = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise PayloadInvalid(f"The Telegram update is not JSON: {exc}") from exc
        if not isinstance(update, dict) or not _is_int(update.get("update_id")):
            raise PayloadInvalid("The Telegram update has no update_id.")
        delivery = ParsedDelivery()
        # Other update kinds (a user blocking the bot, a channel post…) carry no customer
        # message: they are accepted and leave nothing behind.
        if isinstance(update.get("message"), dict):
            delivery.messages.append(_inbound(update["message"], edited=False))
        elif isinstance(update.get("edited_message"), dict):
            delivery.messages.append(_inbound(update["edited_message"], edited=True))
        return delivery

    def fetch_media(self, media):
        ref = getattr(media, "ref", media)
        file = self._call("getFile", json={"file_id": ref})
        file_path = (file or {}).get("file_path")
        if not file_path:
            raise PermanentSendError("Telegram no longer has this file.", code="no_file_path")
        limit = settings.INBOUND_MEDIA_MAX_BYTES
        if _is_int(file.get("file_size")) and file["file_size"] > limit:
            raise too_large(limit)
        url = f"{settings.TELEGRAM_API_URL}/file/bot{self._token}/{file_path}"
        with (
            provider_call(),
            httpx.Client(timeout=self.timeout()) as client,
            client.stream("GET", url) as response,
        ):
            content = read_limited(response, limit)
            header_type = response.headers.get("content-type", "")
        # Telegram's file server answers most files as application/octet-stream: the type
        # named in the message, or the one the path implies, says more.
        guessed, _ = mimetypes.guess_type(file_path)
        content_type = getattr(media, "content_type", "") or guessed or media_type(header_type)
        filename = getattr(media, "filename", "") or posixpath.basename(file_path)
        return FetchedMedia(content=content, content_type=content_type, filename=filename)

    # -- outbound --------------------------------------------------------------------------

    def send_message(self, message):
        chat_id = message.conversation.contact_identity.external_id
        body = message.body or ""
        files = list(message.attachments.all())
        if not files:
            sent = self._call("sendMessage", json={"chat_id": chat_id, "text": body})
            return SendResult(external_id=_message_name(chat_id, sent))

        parts = []
        caption = body
        if len(body) > CAPTION_MAX_LENGTH:
            parts.append(("sendMessage", {"json": {"chat_id": chat_id, "text": body}}))
            caption = ""
        for attachment in files:
            method, field = _upload_method(attachment.content_type)
            data = {"chat_id": str(chat_id)}
            if caption:
                data["caption"] = caption
                caption = ""
            parts.append((method, {"data": data, "upload": (field, attachment)}))

        first_name = None
        for number, (method, call) in enumerate(parts, start=1):
            try:
                sent = self._send_part(method, call)
            except (RetryableSendError, PermanentSendError, OutcomeUnknown) as error:
                if first_name is None:
                    raise
                # Part of the message is already in the chat: trying again would repeat
                # it, so this is final and says what left.
                raise PermanentSendError(
                    f"Only {number - 1} of {len(parts)} parts reached Telegram: {error.reason}",
                    code=error.code,
                ) from error
            if first_name is None:
                first_name = _message_name(chat_id, sent)
        return SendResult(external_id=first_name)

    # -- polling ---------------------------------------------------------------------------

    def set_webhook(self, url):
        """Have Telegram post updates to `url`, signed with this inbox's secret token."""
        return self._call(
            "setWebhook",
            json={
                "url": url,
                "secret_token": self.secrets.get("secret_token", ""),
                "allowed_updates": list(ALLOWED_UPDATES),
            },
        )

    def delete_webhook(self):
        """Stop webhook deliveries, so that `get_updates` may be used instead."""
        return self._call("deleteWebhook", json={})

    def get_updates(self, offset=None, timeout=0):
        """Waiting updates as (one JSON document per update, the next offset to ask for).

        Each update becomes its own stored delivery, exactly as a webhook would have
        posted it. Asking with the returned offset confirms everything before it.
        """
        params = {"timeout": int(timeout), "allowed_updates": list(ALLOWED_UPDATES)}
        if offset is not None:
            params["offset"] = int(offset)
        # A long poll holds the answer for `timeout` seconds: read for longer than that.
        base = self.timeout()
        http_timeout = httpx.Timeout(
            connect=base.connect, read=base.read + timeout, write=base.write, pool=base.pool
        )
        updates = self._call("getUpdates", json=params, timeout=http_timeout) or []
        deliveries, next_offset = [], offset
        for update in updates:
            if not isinstance(update, dict) or not _is_int(update.get("update_id")):
                continue
            deliveries.append(json.dumps(update, ensure_ascii=False).encode())
            next_offset = max(next_offset or 0, update["update_id"] + 1)
        return deliveries, next_offset

    # -- HTTP ------------------------------------------------------------------------------

    @property
    def _token(self):
        return self.secrets.get("bot_token", "")

    def _send_part(self, method, call):
        if "upload" not in call:
            return self._call(method, json=call["json"])
        field, attachment = call["upload"]
        try:
            stored = attachment.file.open("rb")
        except (FileNotFoundError, ValueError) as missing:
            raise PermanentSendError(
                f"The file {attachment.original_name} is no longer stored.", code="missing_file"
            ) from missing
        with stored:
            upload = {field: (attachment.original_name, stored, attachment.content_type)}
            return self._call(method, data=call["data"], files=upload)

    def _call(self, method, *, timeout=None, **request):
        url = f"{settings.TELEGRAM_API_URL}/bot{self._token}/{method}"
        with provider_call(), httpx.Client(timeout=timeout or self.timeout()) as client:
            response = client.post(url, **request)
        return _result(response)


def _result(response):
    """The `result` of a Bot API answer, or the send error its failure means."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableSendError(
                f"Telegram answered HTTP {response.status_code}.",
                code=str(response.status_code),
                retry_after=retry_after_seconds(response),
            )
        if response.is_success:
            raise OutcomeUnknown("Telegram's answer could not be read; the message may have left.")
        raise PermanentSendError(
            f"Telegram answered HTTP {response.status_code}.", code=str(response.status_code)
        )
    if answer.get("ok") is True:
        return answer.get("result")
    code = answer.get("error_code") if _is_int(answer.get("error_code")) else response.status_code
    description = answer.get("description") or f"Telegram answered HTTP {code}."
    if code == 429:
        parameters = answer.get("parameters") or {}
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if not isinstance(retry_after, int | float) or isinstance(retry_after, bool):
            retry_after = retry_after_seconds(response)
        raise RetryableSendError(description, code="429", retry_after=retry_after)
    if code >= 500:
        raise RetryableSendError(description, code=str(code))
    raise PermanentSendError(description, code=str(code))


def _inbound(message, *, edited):
    chat = message.get("chat") or {}
    chat_id = chat.get("id")
    message_id = message.get("message_id")
    if not _is_int(chat_id) or not _is_int(message_id):
        raise PayloadInvalid("The Telegram message has no chat id or message id.")
    name = f"{chat_id}:{message_id}"
    author = message.get("from") or {}
    attributes = {}
    when = message.get("date")
    external_id = name
    if edited:
        when = message.get("edit_date") or when
        external_id = f"{name}:edit:{when}"
        attributes.update(edited=True, edit_of=name)
    reply_to = message.get("reply_to_message")
    if isinstance(reply_to, dict) and _is_int(reply_to.get("message_id")):
        attributes["in_reply_to"] = f"{chat_id}:{reply_to['message_id']}"
    attributes.update(_attributes(message))
    return InboundMessage(
        external_id=external_id,
        sender=Sender(
            external_id=str(chat_id),
            name=_person_name(author) or _person_name(chat) or chat.get("title", ""),
            language=author.get("language_code", "") or "",
        ),
        body=message.get("text") or message.get("caption") or "",
        timestamp=datetime.fromtimestamp(when, tz=UTC) if _is_int(when) else None,
        media=_media(message),
        content_attributes=attributes,
    )


def _media(message):
    media = []
    photos = message.get("photo")
    if isinstance(photos, list) and photos:
        # Telegram lists a photo's sizes from smallest to largest.
        largest = photos[-1]
        media.append(
            InboundMedia(
                ref=largest["file_id"], content_type="image/jpeg", size=largest.get("file_size")
            )
        )
    # A GIF comes as an `animation` and again as a `document`: take it once.
    fields = (("animation", "video/mp4"),) if "animation" in message else FILE_FIELDS
    for field, default_type in fields:
        file = message.get(field)
        if isinstance(file, dict) and file.get("file_id"):
            media.append(
                InboundMedia(
                    ref=file["file_id"],
                    content_type=file.get("mime_type") or default_type,
                    filename=file.get("file_name", ""),
                    size=file.get("file_size"),
                )
            )
    return tuple(media)


def _attributes(message):
    attributes = {}
    sticker = message.get("sticker")
    if isinstance(sticker, dict):
        attributes["sticker"] = {
            "emoji": sticker.get("emoji", ""),
            "set_name": sticker.get("set_name", ""),
            "file_id": sticker.get("file_id", ""),
        }
    location = message.get("location")
    if isinstance(location, dict):
        attributes["location"] = {
            "latitude": location.get("latitude"),
            "longitude": location.get("longitude"),
        }
    venue = message.get("venue")
    if isinstance(venue, dict):
        attributes["venue"] = {"title": venue.get("title", ""), "address": venue.get("address", "")}
    contact = message.get("contact")
    if isinstance(contact, dict):
        attributes["contact"] = {
            "name": _person_name(contact),
            "phone_number": contact.get("phone_number", ""),
        }
    return attributes


def _upload_method(content_type):
    """The Bot API method and form field that send a file of this type."""
    content_type = (content_type or "").lower()
    if content_type in PHOTO_TYPES:
        return "sendPhoto", "photo"
    if content_type == "audio/ogg":
        return "sendVoice", "voice"
    return "sendDocument", "document"


def _message_name(chat_id, sent):
    message_id = sent.get("message_id") if isinstance(sent, dict) else None
    return f"{chat_id}:{message_id}" if message_id is not None else None


def _person_name(person):
    return " ".join(
        part for part in (person.get("first_name"), person.get("last_name")) if part
    ).strip()


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)
