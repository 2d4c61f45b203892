"""SMS, MMS and WhatsApp through Twilio Programmable Messaging.

A customer is a phone number in E.164 (`Sender.external_id`, "+15551234567"); on
WhatsApp Twilio writes it "whatsapp:+15551234567", and the prefix is taken off on the way
in and put back on the way out, so one number is one identity on either kind.

Inbound messages and the status callbacks of our own sends arrive at the same webhook,
form-encoded and signed with the account's auth token.
"""

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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
    StatusUpdate,
    provider_call,
    retry_after_seconds,
)
from inbox.providers.downloads import media_type, read_limited

SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_PREFIX = "whatsapp:"
TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Twilio takes at most this many MediaUrl fields on one message.
MAX_MEDIA = 10
DEFAULT_PORTS = {"https": 443, "http": 80}

# Single-word messages that change consent (Twilio answers them itself and forwards them).
CONSENT_KEYWORDS = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), "stop"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}
# Receipts worth recording; queued, accepted, sending (and the inbound "receiving",
# "received") say nothing the message's own state does not already say.
RECEIPT_STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
}
# Twilio's own code for "too many requests": the message was not taken, try later.
RATE_LIMITED = "20429"


class TwilioSmsAdapter(ProviderAdapter):
    kind = "twilio_sms"
    requires_consent = True

    # -- inbound ---------------------------------------------------------------------------

    def verify_request(self, request, body):
        auth_token = self.secrets.get("auth_token", "")
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not auth_token or not given:
            raise SignatureInvalid("The Twilio signature is missing.")
        params = _form(body)
        url = settings.PUBLIC_URL + request.get_full_path()
        # Test every form, so the time taken does not say which one matched.
        matches = [
            hmac.compare_digest(given.encode(), signature(auth_token, candidate, params).encode())
            for candidate in _urls_with_and_without_default_port(url)
        ]
        if not any(matches):
            raise SignatureInvalid("The Twilio signature does not match.")

    def delivery_key(self, body, content_type):
        fields = dict(_form(body))
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        if not sid:
            return super().delivery_key(body, content_type)
        if _is_status_callback(fields):
            return f"status:{sid}:{fields['MessageStatus']}"
        return f"sid:{sid}"

    def parse(self, body, content_type):
        try:
            fields = dict(_form(body, strict=True))
        except ValueError as exc:
            raise PayloadInvalid(f"The Twilio delivery is not a form: {exc}") from exc
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        if not sid:
            raise PayloadInvalid("The Twilio delivery has no MessageSid.")
        delivery = ParsedDelivery()
        if _is_status_callback(fields):
            status = RECEIPT_STATUSES.get(fields["MessageStatus"].lower())
            if status:
                delivery.statuses.append(
                    StatusUpdate(
                        status=status,
                        external_id=sid,
                        recipient=self._number(fields.get("To", "")),
                        error_code=fields.get("ErrorCode", "") if status == "failed" else "",
                        error_message=fields.get("ErrorMessage", "") if status == "failed" else "",
                    )
                )
            return delivery
        delivery.messages.append(self._inbound(sid, fields))
        return delivery

    def webhook_response(self):
        return TWIML_EMPTY, "text/xml"

    def fetch_media(self, media):
        url = getattr(media, "ref", media)
        # Twilio answers a media URL with a redirect to short-lived storage; httpx drops
        # the credentials when the redirect leaves Twilio's host.
        with (
            provider_call(),
            httpx.Client(timeout=self.timeout(), follow_redirects=True) as client,
            client.stream("GET", url, auth=self._auth) as response,
        ):
            content = read_limited(response)
            header_type = response.headers.get("content-type", "")
        return FetchedMedia(
            content=content,
            content_type=getattr(media, "content_type", "") or media_type(header_type),
            filename=getattr(media, "filename", ""),
        )

    # -- outbound --------------------------------------------------------------------------

    def send_message(self, message):
        from conversations.attachments import signed_url

        form = {
            "To": self._address(message.conversation.contact_identity.external_id),
            "From": self._address(self.config.get("from_number", "")),
        }
        template = (message.content_attributes or {}).get("template")
        if (
            self.kind == "twilio_whatsapp"
            and isinstance(template, dict)
            and template.get("content_sid")
        ):
            form["ContentSid"] = template["content_sid"]
            variables = template.get("variables") or {}
            if not isinstance(variables, str):
                variables = json.dumps(variables, ensure_ascii=False)
            form["ContentVariables"] = variables
        else:
            files = list(message.attachments.all())
            if len(files) > MAX_MEDIA:
                raise PermanentSendError(
                    f"Twilio takes at most {MAX_MEDIA} files in one message.", code="too_many"
                )
            if message.body:
                form["Body"] = message.body
            if files:
                # A list value is sent as one MediaUrl field per file.
                form["MediaUrl"] = [signed_url(attachment) for attachment in files]
        form["StatusCallback"] = self._webhook_url()

        account_sid = self.config.get("account_sid", "")
        url = f"{settings.TWILIO_API_URL}/2010-04-01/Accounts/{account_sid}/Messages.json"
        with provider_call(), httpx.Client(timeout=self.timeout()) as client:
            response = client.post(url, data=form, auth=self._auth)
        return SendResult(external_id=_sent_sid(response))

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _auth(self):
        return (self.config.get("account_sid", ""), self.secrets.get("auth_token", ""))

    def _webhook_url(self):
        return f"{settings.PUBLIC_URL}/webhooks/{self.kind}/{self.inbox.public_token}/"

    def _number(self, address):
        """A Twilio address as Switchboard names the customer: the bare number."""
        return address.strip()

    def _address(self, number):
        """A customer's number as Twilio wants it in To/From on this kind."""
        return number.strip()

    def _consent_keyword(self, fields):
        opt_out = fields.get("OptOutType", "").strip().upper()
        if opt_out in ("STOP", "START", "HELP"):
            return opt_out.lower()
        return CONSENT_KEYWORDS.get(fields.get("Body", "").strip().upper(), "")

    def _inbound(self, sid, fields):
        number = self._number(fields.get("From", ""))
        if not number:
            raise PayloadInvalid("The Twilio message has no From.")
        media = []
        index = 0
        while f"MediaUrl{index}" in fields:
            media.append(
                InboundMedia(
                    ref=fields[f"MediaUrl{index}"],
                    content_type=fields.get(f"MediaContentType{index}", ""),
                )
            )
            index += 1
        attributes = {}
        if fields.get("Latitude") and fields.get("Longitude"):
            attributes["location"] = {
                "latitude": _number_or_text(fields["Latitude"]),
                "longitude": _number_or_text(fields["Longitude"]),
                "label": fields.get("Label", ""),
                "address": fields.get("Address", ""),
            }
        if fields.get("ButtonText"):
            attributes["button"] = {
                "text": fields["ButtonText"],
                "payload": fields.get("ButtonPayload", ""),
            }
        return InboundMessage(
            external_id=sid,
            sender=Sender(
                external_id=number,
                name=fields.get("ProfileName", ""),
                phone=number if number.startswith("+") else "",
            ),
            body=fields.get("Body", ""),
            media=tuple(media),
            content_attributes=attributes,
            consent_keyword=self._consent_keyword(fields),
        )


class TwilioWhatsAppAdapter(TwilioSmsAdapter):
    kind = "twilio_whatsapp"
    requires_consent = False
    service_window_hours = 24

    def _number(self, address):
        address = address.strip()
        if address.lower().startswith(WHATSAPP_PREFIX):
            address = address[len(WHATSAPP_PREFIX) :]
        return address

    def _address(self, number):
        return WHATSAPP_PREFIX + self._number(number)

    def _consent_keyword(self, fields):
        # SMS keywords are a carrier rule: on WhatsApp "Stop" is just a word, unless
        # Twilio's opt-out management itself marked the message.
        opt_out = fields.get("OptOutType", "").strip().upper()
        return opt_out.lower() if opt_out in ("STOP", "START", "HELP") else ""


def signature(auth_token, url, params):
    """Twilio's request signature: Base64(HMAC-SHA1(token, URL + each key+value, sorted))."""
    payload = url + "".join(key + value for key, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _urls_with_and_without_default_port(url):
    """The URL as given, plus the same URL with its default port added or removed.

    Twilio signs the URL it requested, and whether it wrote ":443" is not consistent.
    """
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    urls = [url]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is None and default:
        urls.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    elif parts.port == default:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{host}" if userinfo else host
        urls.append(urlunsplit(parts._replace(netloc=netloc)))
    return urls


def _form(body, *, strict=False):
    if isinstance(body, bytes):
        text = body.decode("utf-8", errors="strict" if strict else "replace")
    else:
        text = str(body)
    return parse_qsl(text, keep_blank_values=True, strict_parsing=strict and bool(text))


def _is_status_callback(fields):
    """A callback about one of our sends, not a customer's message."""
    if not fields.get("MessageStatus"):
        return False
    return "Body" not in fields and fields.get("SmsStatus", "").lower() != "received"


def _sent_sid(response):
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.is_success:
        if isinstance(answer, dict) and answer.get("sid"):
            return answer["sid"]
        raise OutcomeUnknown("Twilio's answer could not be read; the message may have left.")
    error = answer if isinstance(answer, dict) else {}
    code = str(error.get("code") or response.status_code)
    reason = error.get("message") or f"Twilio answered HTTP {response.status_code}."
    if code == RATE_LIMITED or response.status_code == 429 or response.status_code >= 500:
        raise RetryableSendError(reason, code=code, retry_after=retry_after_seconds(response))
    raise PermanentSendError(reason, code=code)


def _number_or_text(value):
    try:
        return float(value)
    except ValueError:
        return value
