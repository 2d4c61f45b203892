"""What WhatsApp, Messenger and Instagram share: they are all Meta's Graph API.

The subscription handshake, the `X-Hub-Signature-256` check, versioned Graph URLs, the
Graph error envelope and the size-capped media download are the same for the three.
"""

import json
from datetime import UTC, datetime

import httpx
from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden

from inbox.providers.base import (
    PayloadInvalid,
    PermanentSendError,
    ProviderAdapter,
    RetryableSendError,
    SignatureInvalid,
    constant_time_equal,
    hmac_hex,
    retry_after_seconds,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="


def graph_url(base, *parts):
    """`{base}/{META_GRAPH_VERSION}/{parts…}`: every Graph call names the API version."""
    path = "/".join(str(part).strip("/") for part in parts)
    return f"{base.rstrip('/')}/{settings.META_GRAPH_VERSION}/{path}"


def load_json_object(body):
    """The delivery's JSON object, or PayloadInvalid saying why it is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise PayloadInvalid(f"The delivery is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise PayloadInvalid("The delivery is JSON but not an object.")
    return payload


def entries_of(payload, expected_object):
    """The `entry` list of an envelope whose `object` is `expected_object`."""
    if payload.get("object") != expected_object:
        raise PayloadInvalid(
            f"Expected a delivery with object {expected_object!r}, got {payload.get('object')!r}."
        )
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadInvalid("The delivery has no 'entry' list.")
    return [entry for entry in entries if isinstance(entry, dict)]


def from_seconds(value):
    """A Unix timestamp in seconds (WhatsApp sends strings) as an aware datetime."""
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def from_milliseconds(value):
    """A Unix timestamp in milliseconds (Messenger, Instagram) as an aware datetime."""
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def graph_error(response):
    """`(code, message)` from a Graph error envelope; code "" when the body has none."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return "", f"HTTP {response.status_code} from the provider."
    code = error.get("code")
    message = str(error.get("message") or "").strip()
    details = ""
    if isinstance(error.get("error_data"), dict):
        details = str(error["error_data"].get("details") or "").strip()
    if details and details not in message:
        message = f"{message} ({details})" if message else details
    return ("" if code is None else str(code)), (
        message or f"HTTP {response.status_code} from the provider."
    )


class MetaAdapter(ProviderAdapter):
    """The Graph API parts common to WhatsApp, Messenger and Instagram."""

    # Graph error codes that mean "not now" rather than "never".
    retryable_codes = frozenset()

    @property
    def graph_base(self):
        raise NotImplementedError

    def graph_url(self, *parts):
        return graph_url(self.graph_base, *parts)

    # -- inbound ---------------------------------------------------------------------------

    def handshake(self, request):
        """Meta's subscription check: echo the challenge if the verify token is ours."""
        expected = self.secrets.get("verify_token") or ""
        if (
            request.GET.get("hub.mode") == "subscribe"
            and expected
            and constant_time_equal(request.GET.get("hub.verify_token", ""), expected)
        ):
            return HttpResponse(
                request.GET.get("hub.challenge", ""), content_type="text/plain; charset=utf-8"
            )
        return HttpResponseForbidden(
            "The verify token does not match this inbox.", content_type="text/plain"
        )

    def verify_request(self, request, body):
        app_secret = self.secrets.get("app_secret")
        if not app_secret:
            raise SignatureInvalid("This inbox has no app secret to check signatures with.")
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not header.startswith(SIGNATURE_PREFIX):
            raise SignatureInvalid(f"Missing or malformed {SIGNATURE_HEADER} header.")
        received = header[len(SIGNATURE_PREFIX) :].strip().lower()
        if not constant_time_equal(received, hmac_hex(app_secret, body)):
            raise SignatureInvalid(f"The {SIGNATURE_HEADER} signature does not match.")

    # -- outbound --------------------------------------------------------------------------

    def raise_for_error(self, response):
        """Nothing for a 2xx; otherwise the send error the Graph answer means."""
        if response.is_success:
            return
        code, message = graph_error(response)
        if (
            response.status_code == 429
            or response.status_code >= 500
            or (code.isdigit() and int(code) in self.retryable_codes)
        ):
            raise RetryableSendError(
                message,
                code=code or response.status_code,
                retry_after=retry_after_seconds(response),
            )
        raise PermanentSendError(message, code=code or response.status_code)

    def download(self, client, url, *, headers=None, content_type="", filename=""):
        """GET `url` and keep at most INBOUND_MEDIA_MAX_BYTES of it.

        Returns the response (already closed) and the bytes; a non-2xx answer is returned
        without reading its body so the caller can decide (an expired link is asked again).
        """
        limit = settings.INBOUND_MEDIA_MAX_BYTES
        with client.stream("GET", url, headers=headers or {}) as response:
            if not response.is_success:
                response.read()
                return response, b""
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise PermanentSendError("too large", code="too_large")
            chunks, received = [], 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > limit:
                    raise PermanentSendError("too large", code="too_large")
                chunks.append(chunk)
        return response, b"".join(chunks)


def media_content_type(response, fallback=""):
    value = response.headers.get("content-type", "") or fallback
    return value.split(";", 1)[0].strip() or "application/octet-stream"


def http_client(*, follow_redirects=False):
    """One client per operation: a send is a handful of calls to the same host.

    Media downloads follow redirects (CDN links may move); httpx drops the Authorization
    header when a redirect leaves the origin, so the token is not handed on.
    """
    return httpx.Client(timeout=ProviderAdapter.timeout(), follow_redirects=follow_redirects)
