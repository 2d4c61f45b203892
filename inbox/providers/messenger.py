"""Facebook Messenger and Instagram Direct: the same webhook shape and the same Send API."""

from datetime import timedelta
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.utils import timezone

from conversations.attachments import signed_url
from inbox.providers.base import (
    FetchedMedia,
    InboundMedia,
    InboundMessage,
    OutcomeUnknown,
    ParsedDelivery,
    PayloadInvalid,
    PermanentSendError,
    Sender,
    SendResult,
    StatusUpdate,
    provider_call,
)
from inbox.providers.meta import (
    MetaAdapter,
    entries_of,
    from_milliseconds,
    http_client,
    load_json_object,
    media_content_type,
)

MEDIA_ATTACHMENTS = ("image", "video", "audio", "file")


def _id_of(party):
    return str((party or {}).get("id") or "") if isinstance(party, dict) else ""


def _send_type(content_type):
    content_type = (content_type or "").lower()
    for kind in ("image", "video", "audio"):
        if content_type.startswith(f"{kind}/"):
            return kind
    return "file"


def _attachment_parts(attachments):
    """Media for the message and the rest (locations, shared links…) as attributes."""
    media, attributes = [], {}
    for attachment in attachments or []:
        if not isinstance(attachment, dict):
            continue
        kind = str(attachment.get("type") or "")
        payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
        if kind in MEDIA_ATTACHMENTS and payload.get("url"):
            url = str(payload["url"])
            name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) if kind == "file" else ""
            media.append(InboundMedia(ref=url, filename=name))
        elif kind == "location":
            coordinates = payload.get("coordinates") or {}
            attributes["location"] = {
                "latitude": coordinates.get("lat"),
                "longitude": coordinates.get("long"),
            }
            if attachment.get("title"):
                attributes["location"]["name"] = attachment["title"]
        else:
            attributes.setdefault("shared", []).append(
                {
                    "type": kind,
                    "title": attachment.get("title") or payload.get("title") or "",
                    "url": attachment.get("url") or payload.get("url") or "",
                }
            )
    return tuple(media), attributes


class MessengerAdapter(MetaAdapter):
    kind = "messenger"
    webhook_object = "page"
    service_window_hours = 24
    human_agent_window_days = 7
    retryable_codes = frozenset({1200, 2, 4, 613})

    @property
    def graph_base(self):
        return settings.MESSENGER_GRAPH_URL

    # -- inbound ---------------------------------------------------------------------------

    def parse(self, body, content_type):
        payload = load_json_object(body)
        delivery = ParsedDelivery()
        for entry in entries_of(payload, self.webhook_object):
            for event in entry.get("messaging") or []:
                if isinstance(event, dict):
                    self._parse_event(event, delivery)
        return delivery

    def _parse_event(self, event, delivery):
        sender, recipient = _id_of(event.get("sender")), _id_of(event.get("recipient"))
        timestamp = from_milliseconds(event.get("timestamp"))
        if isinstance(event.get("message"), dict):
            delivery.messages.append(
                self._parse_message(event["message"], sender, recipient, timestamp)
            )
        if isinstance(event.get("postback"), dict) and event["postback"].get("mid"):
            postback = event["postback"]
            delivery.messages.append(
                InboundMessage(
                    external_id=str(postback["mid"]),
                    sender=Sender(external_id=sender),
                    body=str(postback.get("title") or ""),
                    timestamp=timestamp,
                    content_attributes={"postback": {"payload": postback.get("payload", "")}},
                )
            )
        if isinstance(event.get("delivery"), dict):
            # The customer's device sends the receipt: `sender` is the customer.
            receipt = event["delivery"]
            watermark = from_milliseconds(receipt.get("watermark"))
            mids = [str(mid) for mid in receipt.get("mids") or [] if mid]
            for mid in mids or [""]:
                if mid or watermark:
                    delivery.statuses.append(
                        StatusUpdate(
                            status="delivered",
                            external_id=mid,
                            timestamp=timestamp,
                            watermark=watermark,
                            recipient=sender,
                        )
                    )
        if isinstance(event.get("read"), dict):
            receipt = event["read"]
            mid = str(receipt.get("mid") or "")
            watermark = from_milliseconds(receipt.get("watermark"))
            if mid or watermark:
                delivery.statuses.append(
                    StatusUpdate(
                        status="read",
                        external_id=mid,
                        timestamp=timestamp,
                        watermark=watermark,
                        recipient=sender,
                    )
                )

    def _parse_message(self, message, sender, recipient, timestamp):
        if not message.get("mid"):
            raise PayloadInvalid("A message event without 'mid'.")
        is_echo = bool(message.get("is_echo"))
        # An echo is our page writing to the customer: the customer is the recipient.
        customer = recipient if is_echo else sender
        if not customer:
            raise PayloadInvalid("A message event without the customer's id.")
        media, attributes = _attachment_parts(message.get("attachments"))
        reply_to = message.get("reply_to")
        if isinstance(reply_to, dict) and reply_to.get("mid"):
            attributes["in_reply_to"] = str(reply_to["mid"])
        quick_reply = message.get("quick_reply")
        if isinstance(quick_reply, dict):
            attributes["quick_reply"] = {"payload": quick_reply.get("payload", "")}
        # Instagram: the customer unsent a message, or sent something the API cannot show.
        # A deletion names the mid of the message it removes.
        for flag in ("is_deleted", "is_unsupported"):
            if message.get(flag):
                attributes[flag] = True
        return InboundMessage(
            external_id=str(message["mid"]),
            sender=Sender(external_id=customer),
            body=str(message.get("text") or ""),
            timestamp=timestamp,
            media=media,
            content_attributes=attributes,
            is_echo=is_echo,
        )

    def fetch_media(self, media):
        """Attachment links are public, signed CDN URLs: a plain GET, no token."""
        with provider_call(), http_client(follow_redirects=True) as client:
            response, content = self.download(client, media.ref)
            self.raise_for_error(response)
        return FetchedMedia(
            content=content,
            content_type=media_content_type(response, media.content_type),
            filename=media.filename,
        )

    # -- outbound --------------------------------------------------------------------------

    def messaging_type(self, conversation, now=None):
        """How a reply may go out now: inside the 24 h window, with the human agent tag
        up to 7 days after the customer's last message, not at all after that."""
        now = now or timezone.now()
        last = conversation.last_customer_message_at
        if last is not None and now - last <= timedelta(hours=self.service_window_hours):
            return {"messaging_type": "RESPONSE"}
        if last is not None and now - last <= timedelta(days=self.human_agent_window_days):
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        raise PermanentSendError(
            f"The customer last wrote more than {self.human_agent_window_days} days ago: "
            "a reply is possible only after they write again.",
            code="window_closed",
        )

    def send_message(self, message):
        """Send one reply: the text, then each file by a signed link to it.

        The Send API takes text or one attachment per message, so a reply with files is
        several messages; the result carries the id of the *first* one. If a later part
        fails after an earlier one left, the reply is OutcomeUnknown (never resent).
        """
        conversation = message.conversation
        base = {
            "recipient": {"id": conversation.contact_identity.external_id},
            **self.messaging_type(conversation),
        }
        parts = []
        if str(message.body or "").strip():
            parts.append({"text": message.body})
        for attachment in message.attachments.all() if message.pk else ():
            parts.append(
                {
                    "attachment": {
                        "type": _send_type(attachment.content_type),
                        "payload": {"url": signed_url(attachment), "is_reusable": True},
                    }
                }
            )
        if not parts:
            raise PermanentSendError("There is nothing to send: the reply is empty.")

        first_id = None
        with provider_call(), http_client() as client:
            for number, part in enumerate(parts, start=1):
                try:
                    external_id = self._post(client, {**base, "message": part})
                except Exception as exc:
                    if first_id is None:
                        raise
                    raise OutcomeUnknown(
                        f"Only {number - 1} of {len(parts)} parts of this reply were sent; "
                        f"the next failed: {getattr(exc, 'reason', exc)}",
                        code=getattr(exc, "code", ""),
                    ) from exc
                if first_id is None:
                    first_id = external_id
        return SendResult(external_id=first_id)

    def _post(self, client, payload):
        response = client.post(
            self.graph_url("me", "messages"),
            params={"access_token": self.secrets.get("page_token", "")},
            json=payload,
        )
        self.raise_for_error(response)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return str((answer or {}).get("message_id") or "") or None


class InstagramAdapter(MessengerAdapter):
    """Instagram Direct through the linked Facebook page: Messenger's API, its own object."""

    kind = "instagram"
    webhook_object = "instagram"
