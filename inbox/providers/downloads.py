"""Downloading inbound media from a provider without holding more than the limit in memory."""

from django.conf import settings

from inbox.providers.base import PermanentSendError, RetryableSendError


def read_limited(response, max_bytes=None):
    """The body of a streamed httpx response, refusing it once it passes `max_bytes`.

    A declared Content-Length over the limit is refused before anything is read; a body
    that lies about its length is cut off as soon as it passes the limit. A 5xx or 429
    is worth trying again; any other non-2xx answer will not change.
    """
    max_bytes = settings.INBOUND_MEDIA_MAX_BYTES if max_bytes is None else max_bytes
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableSendError(
            f"The provider could not hand over the file now (HTTP {response.status_code}).",
            code=str(response.status_code),
        )
    if not response.is_success:
        raise PermanentSendError(
            f"The provider refused to hand over the file (HTTP {response.status_code}).",
            code=str(response.status_code),
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    chunks, total = [], 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(max_bytes):
    return PermanentSendError(
        f"The file is larger than {max_bytes // (1024 * 1024) or max_bytes} "
        f"{'MB' if max_bytes >= 1024 * 1024 else 'bytes'} and was not downloaded.",
        code="too_large",
    )


def media_type(header_value, fallback=""):
    """The bare media type of a Content-Type header ("image/png; q=1" → "image/png")."""
    value = (header_value or "").split(";", 1)[0].strip().lower()
    return value or fallback or "application/octet-stream"
