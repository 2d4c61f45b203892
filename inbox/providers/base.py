"""What every provider adapter does. One module per provider implements it.

An adapter is the only code that knows a provider's wire format. It:

- verifies an inbound request (`verify_request`) and answers the webhook handshake,
- names the delivery (`delivery_key`) so a repeated delivery is stored once,
- parses a stored delivery into `InboundMessage`s and `StatusUpdate`s (`parse`),
- sends one outbound message (`send_message`), telling apart "the provider did not take
  it" (`RetryableSendError`), "it refused it for good" (`PermanentSendError`) and "we
  cannot know" (`OutcomeUnknown`),
- fetches inbound media (`fetch_media`).

The services around it (durable inbound events, the outbound state machine, receipts)
are the same for every provider.
"""

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from django.conf import settings


@dataclass(frozen=True)
class SendResult:
    """What the provider answered to a send: its id for the message, when it gives one."""

    external_id: str | None = None


class SendError(Exception):
    """The provider did not take the message. `reason` is shown to the agent."""

    def __init__(self, reason, *, code=""):
        super().__init__(reason)
        self.reason = str(reason)
        self.code = str(code)


class RetryableSendError(SendError):
    """The provider did not take the message this time (rate limit, 5xx, refused connection).

    Safe to try again: `retry_after` is the provider's own wait in seconds, if it gave one.
    """

    def __init__(self, reason, *, code="", retry_after=None):
        super().__init__(reason, code=code)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """The provider refused the message and will refuse it again (window closed, blocked…)."""


class OutcomeUnknown(SendError):
    """The request may have reached the provider (e.g. a read timeout): never resend it."""


class SignatureInvalid(Exception):
    """The request is not from the provider: missing or wrong signature or secret."""


class PayloadInvalid(Exception):
    """A correctly signed delivery we cannot understand. Kept as a failed inbound event."""


@dataclass(frozen=True)
class Sender:
    """Who wrote, as the provider names them: the id is unique within the inbox."""

    external_id: str
    name: str = ""
    phone: str = ""  # E.164 where the channel is a phone number
    email: str = ""
    language: str = ""


@dataclass(frozen=True)
class InboundMedia:
    """A file attached to an inbound message, fetched later by a task."""

    ref: str  # the provider's media id, file id or URL
    content_type: str = ""
    filename: str = ""
    size: int | None = None
    # Bytes already in the delivery (e-mail attachments); no fetch needed.
    content: bytes | None = None


@dataclass(frozen=True)
class InboundMessage:
    """One customer message (or, with `is_echo`, one of ours the provider echoes back)."""

    external_id: str
    sender: Sender
    body: str = ""
    timestamp: datetime | None = None
    media: tuple[InboundMedia, ...] = ()
    # Channel details shown with the message: location, reaction, e-mail headers…
    content_attributes: dict = field(default_factory=dict)
    is_echo: bool = False
    # "stop", "start" or "help" for an SMS keyword message.
    consent_keyword: str = ""
    # E-mail: the ids this message answers (In-Reply-To, then References).
    thread_refs: tuple[str, ...] = ()
    # E-mail: the conversation named by a reply+<uuid>@ address.
    conversation_uuid: str = ""


@dataclass(frozen=True)
class StatusUpdate:
    """A receipt for one of our outbound messages, or for all of them up to a watermark."""

    status: str  # "sent", "delivered", "read" or "failed"
    external_id: str = ""
    timestamp: datetime | None = None
    # Messenger/Instagram: every message to this recipient sent before `watermark`.
    watermark: datetime | None = None
    recipient: str = ""
    error_code: str = ""
    error_message: str = ""


@dataclass
class ParsedDelivery:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)


@dataclass(frozen=True)
class FetchedMedia:
    content: bytes
    content_type: str
    filename: str = ""


class ProviderAdapter:
    kind = ""
    # True when "sending" means pushing the message to the customer's live session
    # (our own website widget) rather than calling a provider's API.
    delivers_through_live_events = False
    # Channels with a customer-service window (hours) after the customer's last message.
    service_window_hours = None
    # Messenger/Instagram: a human agent may answer until this many days with a tag.
    human_agent_window_days = None
    # Channels where STOP/START keywords and recorded consent apply.
    requires_consent = False
    # Channels that show the customer that an agent read their message (`mark_read`).
    sends_read_marks = False
    # Seconds between two sends to the same chat, and sends per second overall.
    min_interval_per_chat = 0.0
    max_per_second = None

    def __init__(self, inbox):
        self.inbox = inbox

    # -- inbound ---------------------------------------------------------------------------

    def handshake(self, request):
        """Answer a GET to the webhook (a subscription check). None: no handshake here."""
        return None

    def verify_request(self, request, body):
        """Raise SignatureInvalid unless `body` (the raw bytes) comes from the provider."""
        raise NotImplementedError

    def delivery_key(self, body, content_type):
        """A key naming this delivery, equal for the provider's retries of it."""
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def parse(self, body, content_type):
        """The messages and receipts in a stored delivery; PayloadInvalid if it has none."""
        raise NotImplementedError

    def webhook_response(self):
        """The body and content type to answer an accepted delivery with."""
        return b"", "text/plain"

    def fetch_media(self, media):
        """Download an inbound file: FetchedMedia. Errors as the send errors."""
        raise NotImplementedError

    # -- outbound --------------------------------------------------------------------------

    def send_message(self, message):
        raise NotImplementedError

    def mark_read(self, message):
        """Tell the provider the agent read this inbound message (where it supports that)."""
        return None

    # -- helpers ---------------------------------------------------------------------------

    @property
    def config(self):
        return self.inbox.provider_config or {}

    @property
    def secrets(self):
        return self.inbox.provider_secrets or {}

    @staticmethod
    def timeout():
        """Explicit timeouts for every provider call: connect, read, write, pool."""
        return settings.PROVIDER_HTTP_TIMEOUT


def constant_time_equal(a, b):
    return hmac.compare_digest(str(a or "").encode(), str(b or "").encode())


def hmac_hex(secret, body, digestmod=hashlib.sha256):
    return hmac.new(str(secret).encode(), body, digestmod).hexdigest()


class provider_call:
    """Turn httpx's transport errors into what they mean for a send.

    Before the request left (refused, connect timeout, no pool slot) it is safe to retry;
    after (read timeout, connection dropped mid-answer) nobody can know, so never resend.
    """

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            raise RetryableSendError(f"Could not reach the provider ({exc.__class__.__name__}).")
        if isinstance(exc, httpx.TransportError):
            raise OutcomeUnknown(
                f"The provider did not answer in time ({exc.__class__.__name__}); "
                "the message may have been delivered."
            )
        return False


def retry_after_seconds(response):
    """The Retry-After header in seconds, when it is a number."""
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
