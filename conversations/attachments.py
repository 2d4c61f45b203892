"""Files on messages: what may be uploaded, how it is stored, and how it is served.

Uploads are checked before anything is written (`check_uploads`): their number, their
size, and their type, which for images and PDFs comes from the file's first bytes, not
from the name or the browser's word for it. Files are stored through Django's storage
API under generated names (see `Attachment.file`); the name the customer gave is kept
only as metadata and only ever appears, escaped, in a Content-Disposition header.

Served files can never run as a page of ours: every response says `nosniff` and carries
a CSP of `default-src 'none'; sandbox`, so an HTML or SVG file that got past the checks
would open as an inert, sandboxed document of its own origin.
"""

import math
import mimetypes
import re
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import FileResponse, Http404
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext as _

SIGNED_URL_SALT = "switchboard.attachment.url"
SANDBOX_POLICY = "default-src 'none'; sandbox"

# Types whose first bytes we recognise. A file that says it is one of them must be one.
SIGNATURES = {
    "image/jpeg": lambda head: head.startswith(b"\xff\xd8\xff"),
    "image/png": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/gif": lambda head: head[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
    "application/pdf": lambda head: head.startswith(b"%PDF-"),
}

_ZIP = (b"PK\x03\x04",)  # OOXML and OpenDocument files are zip archives
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)  # legacy .doc, .xls, .ppt
_MP4 = "mp4"
_MPEG_AUDIO = "mpeg-audio"
_MPEG_VIDEO = (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")
_OGG = (b"OggS",)
_WEBM = (b"\x1a\x45\xdf\xa3",)

# Everything else that may be sent, with the container its bytes must be in (None: any).
CONTAINERS = {
    "text/plain": None,
    "text/csv": None,
    "application/msword": _OLE,
    "application/vnd.ms-excel": _OLE,
    "application/vnd.ms-powerpoint": _OLE,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _ZIP,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _ZIP,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _ZIP,
    "application/vnd.oasis.opendocument.text": _ZIP,
    "application/vnd.oasis.opendocument.spreadsheet": _ZIP,
    "application/vnd.oasis.opendocument.presentation": _ZIP,
    "audio/mp4": _MP4,
    "audio/mpeg": _MPEG_AUDIO,
    "audio/ogg": _OGG,
    "audio/webm": _WEBM,
    "video/mp4": _MP4,
    "video/mpeg": _MPEG_VIDEO,
    "video/ogg": _OGG,
    "video/webm": _WEBM,
}

ALLOWED_TYPES = frozenset(SIGNATURES) | frozenset(CONTAINERS)

# Other names browsers and systems use for the allowed types.
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "application/x-pdf": "application/pdf",
    "text/x-csv": "text/csv",
    "application/csv": "text/csv",
    "text/comma-separated-values": "text/csv",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
}

# Extensions the `accept` attribute of file inputs offers, for systems without MIME types.
EXTENSIONS = (
    *(".jpg", ".jpeg", ".png", ".gif", ".webp", ".pdf", ".txt", ".csv"),
    *(".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".odp"),
    *(".mp3", ".m4a", ".mp4", ".mpeg", ".ogg", ".oga", ".ogv", ".webm"),
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UploadRefused(Exception):
    """An upload cannot be taken; the message says which file and why, for the person."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed the checks, with what we determined about it."""

    file: object
    original_name: str
    content_type: str
    size: int


def accept_attribute():
    """The value of `accept` on file inputs: the allowed types and their extensions."""
    return ",".join([*sorted(ALLOWED_TYPES), *EXTENSIONS])


def clean_original_name(name):
    """The customer's file name, fit to keep as metadata: no folders, no control characters."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[\\/]", name)[-1]
    name = _CONTROL.sub("", name).strip().lstrip(".") or _("file")
    if len(name) > 200:
        stem, dot, extension = name.rpartition(".")
        extension = extension[:20] if dot else ""
        name = (stem if dot else name)[: 200 - len(extension) - 1] + (dot + extension)
    return name


def _normalise(content_type):
    content_type = (content_type or "").split(";")[0].strip().lower()
    return ALIASES.get(content_type, content_type)


def _matches_container(container, head):
    if container is None:
        return True
    if container == _MP4:
        return head[4:8] == b"ftyp"
    if container == _MPEG_AUDIO:
        return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] >= 0xE0)
    return head.startswith(container)


def sniff(head):
    """The type the first bytes prove, for the types we can recognise; else None."""
    for content_type, matches in SIGNATURES.items():
        if matches(head):
            return content_type
    return None


def detect_type(name, declared, head):
    """The type to store for a file, or UploadRefused.

    A recognisable image or PDF is what its bytes say, whatever it is called. A file
    that claims (by its name or the browser's word) to be one but has other bytes is
    refused. Other allowed types are taken from the claim when the bytes fit.
    """
    proven = sniff(head)
    if proven:
        return proven
    guessed, _encoding = mimetypes.guess_type(name, strict=False)
    claims = [c for c in (_normalise(declared), _normalise(guessed)) if c]
    for claim in claims:
        if claim in SIGNATURES:
            raise UploadRefused(
                _("“%(name)s” is not a real %(kind)s: its contents do not match its type.")
                % {"name": name, "kind": claim.split("/")[-1].upper()}
            )
    allowed = [claim for claim in claims if claim in CONTAINERS]
    for claim in allowed:
        # Browsers on Windows call a .csv "application/vnd.ms-excel": the name may know better.
        if _matches_container(CONTAINERS[claim], head):
            return claim
    if allowed:
        raise UploadRefused(
            _("“%(name)s” is damaged or not what its name says (%(type)s).")
            % {"name": name, "type": allowed[0]}
        )
    raise UploadRefused(
        _(
            "“%(name)s” cannot be sent: only images (JPEG, PNG, GIF, WebP), PDF, text, CSV, "
            "office documents, audio and video files can."
        )
        % {"name": name}
    )


def _sizes(size, limit):
    """Both sizes, readable, and never shown as equal when the file is over the limit."""
    shown, most = filesizeformat(size), filesizeformat(limit)
    if shown == most:
        # A file just over the limit would round to the limit itself: round it up instead.
        unit = 1024 ** max(0, min(4, int(math.log(limit, 1024))))
        step = unit / 10
        shown = filesizeformat(math.ceil(size / step) * step)
    return {"size": shown, "max": most}


def check_uploads(files):
    """Check every upload before anything is written. Returns CheckedUploads.

    Raises UploadRefused with a message that names the file and what to do.
    """
    files = [f for f in files if f is not None]
    limit = settings.ATTACHMENT_MAX_FILES
    if len(files) > limit:
        raise UploadRefused(
            _("You chose %(count)s files; at most %(max)s can go with one message.")
            % {"count": len(files), "max": limit}
        )
    checked = []
    for upload in files:
        name = clean_original_name(upload.name)
        size = upload.size or 0
        if size > settings.ATTACHMENT_MAX_BYTES:
            raise UploadRefused(
                _("“%(name)s” is too big (%(size)s). Files can be at most %(max)s.")
                % {"name": name, **_sizes(size, settings.ATTACHMENT_MAX_BYTES)}
            )
        if size == 0:
            raise UploadRefused(_("“%(name)s” is empty.") % {"name": name})
        upload.seek(0)
        head = upload.read(64)
        upload.seek(0)
        content_type = detect_type(name, getattr(upload, "content_type", ""), head)
        checked.append(CheckedUpload(upload, name, content_type, size))
    return checked


def store(message, checked_uploads):
    """Save checked uploads as the message's attachments (inside the caller's transaction)."""
    from conversations.models import Attachment

    attachments = []
    for upload in checked_uploads:
        attachment = Attachment(
            message=message,
            content_type=upload.content_type,
            size=upload.size,
            original_name=upload.original_name,
        )
        # The storage name comes from `attachment_path`, never from the upload's name.
        attachment.file.save("upload", upload.file, save=False)
        attachment.save()
        attachments.append(attachment)
    return attachments


def store_provider_media(message, media):
    """Attachments for files a provider holds (InboundMedia), inside the caller's transaction.

    Files that came inside the delivery (e-mail) are stored at once; the others are
    placeholders with the provider's reference, returned so a task can fetch them.
    """
    from conversations.models import Attachment

    to_fetch = []
    for item in media:
        attachment = Attachment(
            message=message,
            content_type=_normalise(item.content_type) or "application/octet-stream",
            size=item.size or 0,
            original_name=clean_original_name(item.filename or _("file")),
            provider_ref=item.ref[:1024],
        )
        if item.content is not None:
            save_fetched_file(attachment, item.content, item.content_type, save=False)
            attachment.save()
            continue
        attachment.save()
        to_fetch.append(attachment)
    return to_fetch


def save_fetched_file(attachment, content, declared_type, *, filename="", save=True):
    """Store a provider's file under a generated name, its type checked against its bytes."""
    from django.core.files.base import ContentFile

    if len(content) > settings.INBOUND_MEDIA_MAX_BYTES:
        attachment.fetch_error = _("The file is larger than %(max)s and was not downloaded.") % {
            "max": filesizeformat(settings.INBOUND_MEDIA_MAX_BYTES)
        }
    else:
        claimed = _normalise(declared_type) or attachment.content_type
        proven = sniff(content[:64])
        # A file that says it is an image but is not must never be shown as one.
        if claimed in SIGNATURES and proven != claimed:
            claimed = proven or "application/octet-stream"
        attachment.content_type = claimed or "application/octet-stream"
        attachment.size = len(content)
        attachment.fetch_error = ""
        attachment.file.save("media", ContentFile(content), save=False)
    if filename and attachment.original_name in ("", _("file")):
        attachment.original_name = clean_original_name(filename)
    if save:
        attachment.save(
            update_fields=["file", "content_type", "size", "fetch_error", "original_name"]
        )
    return attachment


# --- Signed links, for providers fetching media we send ---------------------------------------


def _signer():
    return signing.TimestampSigner(salt=SIGNED_URL_SALT)


def signed_url(attachment):
    """An absolute link to the file that works without signing in, for a limited time."""
    token = _signer().sign(str(attachment.pk))
    return settings.PUBLIC_URL + reverse("conversations:signed_attachment", args=[token])


def attachment_id_from_token(token, max_age=None):
    """The attachment id a signed link names, or None if it is forged or has expired."""
    max_age = settings.ATTACHMENT_URL_MAX_AGE if max_age is None else max_age
    try:
        value = _signer().unsign(token, max_age=max_age)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None


# --- Responses --------------------------------------------------------------------------------


def file_response(attachment, *, cache="private"):
    """Stream a stored file: inline for images, as a download for everything else."""
    inline = attachment.is_image and attachment.content_type in SIGNATURES
    try:
        stored = attachment.file.open("rb")
    except (FileNotFoundError, ValueError) as missing:
        raise Http404("The file is no longer stored.") from missing
    response = FileResponse(
        stored,
        content_type=attachment.content_type,
        as_attachment=not inline,
        filename=attachment.original_name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Set here, so the site-wide CSP middleware leaves it as it is.
    response["Content-Security-Policy"] = SANDBOX_POLICY
    response["Cache-Control"] = f"{cache}, max-age=3600"
    return response
