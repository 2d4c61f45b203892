"""E-mail: inbound mail read from IMAP, replies sent through Django's SMTP connection.

Inbound mail has no webhook: a periodic task calls `poll_mailbox`, stores each raw
message (RFC 822 bytes, content type "message/rfc822") as an inbound event, and
`EmailAdapter.parse` turns it into one `InboundMessage`. Threading follows RFC 5322:
every reply carries our own Message-ID, In-Reply-To and References, and a Reply-To of
`reply+<conversation uuid>@<INBOUND_EMAIL_DOMAIN>`, so the customer's answer names its
conversation.
"""

import hashlib
import mimetypes
import re
import smtplib
import uuid
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

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
)
from inbox.providers.email_html import fold_quoted_text, html_to_text, sanitize_email_html

__all__ = [
    "EmailAdapter",
    "MailboxUnavailable",
    "fold_quoted_text",
    "poll_mailbox",
    "sanitize_email_html",
]

RFC822 = "message/rfc822"

# Seconds for SMTP and IMAP conversations when the settings give none: a silent server
# must not hold a worker forever.
DEFAULT_TIMEOUT = 30

# Charsets mail clients declare for text in another one. Like browsers, read Latin-1 as
# Windows-1252 (its superset: curly quotes and the euro sign live in 0x80-0x9F).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "ascii",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "unknown-8bit": "",
    "x-unknown": "",
}

_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_REPLY_ADDRESS = re.compile(r"^reply\+([0-9a-f-]{32,36})@(.+)$", re.IGNORECASE)


# -- reading a mail -------------------------------------------------------------------------


def _clean_text(value):
    """Header text with raw 8-bit bytes (kept as surrogates by the parser) decoded."""
    value = str(value or "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("cp1252", "replace")
    return value


def _header(message, name):
    """One header as clean single-line text ("" when absent or unreadable)."""
    try:
        value = message.get(name)
    except (IndexError, ValueError, TypeError):
        return ""
    return " ".join(_clean_text(value).split())


def _ids(value):
    """The message ids in a Message-ID, In-Reply-To or References value, without <>."""
    found = _MESSAGE_ID.findall(value or "")
    if found:
        return found
    # Some senders omit the angle brackets around a lone id.
    bare = (value or "").strip()
    return [bare] if bare and " " not in bare and "@" in bare else []


def _addresses(message, name):
    """(display name, address) pairs of every `name` header, names decoded."""
    pairs = []
    for header in message.get_all(name) or []:
        try:
            found = [(a.display_name, a.addr_spec) for a in header.addresses]
        except (AttributeError, IndexError, ValueError, TypeError):
            found = getaddresses([_clean_text(header)])
        for display_name, address in found:
            address = _clean_text(address).strip()
            if address and "@" in address:
                pairs.append((_clean_text(display_name).strip(), address))
    return pairs


def _format_address(display_name, address):
    if not display_name:
        return address
    if re.search(r'[()<>\[\]:;@\\,."]', display_name):
        escaped = display_name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>'
    return f"{display_name} <{address}>"


def _decode_text(part):
    """A text part as str, whatever charset it declares (or wrongly declares)."""
    payload = part.get_payload(decode=True) or b""
    declared = (part.get_content_charset() or "").lower()
    candidates = [_CHARSET_ALIASES.get(declared, declared), "utf-8", "cp1252"]
    for charset in filter(None, candidates):
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


def _unflow(text, delsp):
    """Undo RFC 3676 format=flowed: a line ending in a space continues on the next."""
    joined = []
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        previous = joined[-1] if joined else None
        if previous and previous[2] and previous[0] == depth:
            previous[1] += content
            previous[2] = content.endswith(" ") and content != "-- "
            if previous[2] and delsp:
                previous[1] = previous[1][:-1]
            continue
        soft = content.endswith(" ") and content != "-- "
        if soft and delsp:
            content = content[:-1]
        joined.append([depth, content, soft])
    return "\n".join(
        (">" * depth + " " + content).rstrip() if depth else content for depth, content, _ in joined
    )


def _plain_text(part):
    text = _decode_text(part).replace("\r\n", "\n").replace("\r", "\n")
    if part.get_param("format", "").lower() == "flowed":
        text = _unflow(text, part.get_param("delsp", "").lower() == "yes")
    return text


def _leaf_parts(part):
    """Every leaf of the MIME tree, an attached mail counting as one leaf."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from _leaf_parts(sub)
    else:
        yield part


def _media_of(part, index):
    """An attachment or inline part as InboundMedia, or None for a body part."""
    content_type = part.get_content_type()
    if content_type == RFC822 or part.get_content_maintype() == "message":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        try:
            content = inner.as_bytes() if hasattr(inner, "as_bytes") else bytes(inner)
        except (TypeError, ValueError, UnicodeError):
            content = part.as_bytes()
    else:
        content = part.get_payload(decode=True) or b""
    content_id = " ".join(_ids(_header(part, "Content-ID")))
    try:
        filename = _clean_text(part.get_filename() or "")
    except (TypeError, ValueError, IndexError):
        filename = ""
    filename = filename.replace("/", "_").replace("\\", "_").strip()
    if not filename:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        if content_type == RFC822:
            extension = ".eml"
        stem = re.sub(r"[^\w.-]+", "_", content_id.split("@")[0]) if content_id else ""
        filename = f"{stem or f'attachment-{index}'}{extension}"
    return InboundMedia(
        # Inline images keep their Content-ID so the HTML's cid: links can find them.
        ref=f"cid:{content_id}" if content_id else f"part:{index}",
        content_type=content_type,
        filename=filename,
        size=len(content),
        content=content,
    )


def _reply_uuid(pairs):
    domain = settings.INBOUND_EMAIL_DOMAIN.lower()
    for _name, address in pairs:
        match = _REPLY_ADDRESS.match(address.strip())
        if match and match.group(2).lower() == domain:
            try:
                return str(uuid.UUID(match.group(1)))
            except ValueError:
                continue
    return ""


def _is_ours(message_id):
    """Whether a Message-ID is one `send_message` gave (our own mail coming back)."""
    local, _, domain = message_id.rpartition("@")
    if domain.lower() != settings.INBOUND_EMAIL_DOMAIN.lower():
        return False
    conversation_uuid, _, message_pk = local.rpartition(".")
    try:
        uuid.UUID(conversation_uuid)
    except ValueError:
        return False
    return message_pk.isdigit()


def _date_of(message):
    try:
        header = message.get("Date")
        moment = header.datetime if header is not None else None
    except (AttributeError, IndexError, ValueError, TypeError):
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _parse_mail(raw):
    if not isinstance(raw, bytes | bytearray | memoryview) or not bytes(raw).strip():
        raise PayloadInvalid("An e-mail delivery must be the raw message bytes.")
    raw = bytes(raw)
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; anything it raises means garbage
        raise PayloadInvalid(f"Not an e-mail message: {exc}") from exc
    senders = _addresses(message, "From")
    if not senders:
        raise PayloadInvalid("Not an e-mail message: it has no From address.")

    message_ids = _ids(_header(message, "Message-ID"))
    message_id = message_ids[0] if message_ids else ""
    in_reply_to = _ids(_header(message, "In-Reply-To"))
    references = _ids(_header(message, "References"))
    thread_refs = []
    for ref in [*in_reply_to, *reversed(references)]:
        if ref not in thread_refs and ref != message_id:
            thread_refs.append(ref)

    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    if text_part is not None and text_part.get_content_type() != "text/plain":
        text_part = None
    if html_part is not None and html_part.get_content_type() != "text/html":
        html_part = None
    html = sanitize_email_html(_decode_text(html_part)) if html_part is not None else ""
    body_parts = {id(part) for part in (text_part, html_part) if part is not None}
    leaves = [part for part in _leaf_parts(message) if id(part) not in body_parts]
    media = tuple(
        _media_of(part, index)
        for index, part in enumerate(leaves, start=1)
        if not _is_stray_text(part)
    )
    text = _plain_text(text_part) if text_part is not None else html_to_text(html)
    if text_part is not None:
        # Some clients split the text around an inline image (text, image, text) and
        # lists append a footer part: a client shows them in order, so do we.
        more = [
            _plain_text(part).strip("\n")
            for part in leaves
            if _is_stray_text(part) and part.get_content_type() == "text/plain"
        ]
        text = "\n\n".join([text.rstrip("\n"), *filter(str.strip, more)])
    body, quoted = fold_quoted_text(text)

    to = _addresses(message, "To")
    cc = _addresses(message, "Cc")
    delivered_to = _addresses(message, "Delivered-To") + _addresses(message, "X-Original-To")
    display_name, address = senders[0]
    return InboundMessage(
        external_id=message_id or "sha256:" + hashlib.sha256(raw).hexdigest(),
        sender=Sender(external_id=address.lower(), name=display_name, email=address),
        body=body,
        timestamp=_date_of(message),
        media=media,
        content_attributes={
            "subject": _header(message, "Subject"),
            "from": _format_address(display_name, address),
            "to": [_format_address(*pair) for pair in to],
            "cc": [_format_address(*pair) for pair in cc],
            "message_id": message_id,
            "in_reply_to": in_reply_to[0] if in_reply_to else "",
            "references": references,
            "html": html,
            "quoted": quoted,
        },
        is_echo=bool(message_id) and _is_ours(message_id),
        thread_refs=tuple(thread_refs),
        conversation_uuid=_reply_uuid(to + cc + delivered_to),
    )


def _is_stray_text(part):
    """A text part that is neither the body nor a file: a list footer, an empty alternative.

    Text that the sender attached (a disposition, a file name or a Content-ID) is a file.
    """
    if part.get_content_type() not in ("text/plain", "text/html"):
        return False
    named = bool(part.get_filename())
    return not (named or part.get_content_disposition() == "attachment" or part.get("Content-ID"))


# -- sending --------------------------------------------------------------------------------


def _bracketed(ids):
    return " ".join(f"<{ref}>" for ref in ids)


def _references_for(parent_references, parent_id):
    """The parent's References plus the parent: long chains keep the first and the newest."""
    chain = [ref for ref in parent_references if ref != parent_id] + [parent_id]
    if len(chain) > 20:
        chain = [chain[0], *chain[-19:]]
    return chain


def _one_line(value):
    return " ".join(str(value or "").split())


def _smtp_failure(exc, *, data_started):
    """What an SMTP error means for the message: send again later, never, or unknowable."""
    if isinstance(exc, smtplib.SMTPConnectError):
        # The server would not talk to us at all: nothing was handed over.
        return RetryableSendError(
            f"The mail server refused the connection: {exc.smtp_code} {_smtp_text(exc.smtp_error)}",
            code=str(exc.smtp_code),
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        reason = (
            "; ".join(f"{code} {_smtp_text(text)}".strip() for code, text in replies)
            or "The recipient was refused."
        )
        if replies and all(400 <= code < 500 for code, _ in replies):
            return RetryableSendError(reason, code=str(replies[0][0]))
        return PermanentSendError(reason, code=str(replies[0][0]) if replies else "")
    if isinstance(exc, smtplib.SMTPResponseException):
        reason = f"{exc.smtp_code} {_smtp_text(exc.smtp_error)}".strip()
        if 400 <= exc.smtp_code < 500:
            return RetryableSendError(reason, code=str(exc.smtp_code))
        if exc.smtp_code >= 500:
            return PermanentSendError(reason, code=str(exc.smtp_code))
    if data_started:
        return OutcomeUnknown(
            f"The mail server stopped answering while taking the message "
            f"({exc.__class__.__name__}); it may have been delivered."
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):  # e.g. STARTTLS asked of a server without it
        return PermanentSendError(f"The mail server refused our connection settings: {exc}")
    return RetryableSendError(f"Could not reach the mail server ({exc.__class__.__name__}).")


def _smtp_text(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(str(text or "").split())


def _deliver_over_smtp(backend, mail, sender, recipients):
    """Run the SMTP conversation ourselves, so a failure is known to be before or after DATA.

    Before DATA nothing was handed over and a retry is safe; once the message bytes are on
    their way, a dropped connection or a timeout leaves the outcome unknown.
    """
    content = mail.message().as_bytes(linesep="\r\n")
    data_started = False
    try:
        backend.open()
        smtp = backend.connection
        smtp.ehlo_or_helo_if_needed()
        code, reply = smtp.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused = {}
        for recipient in recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
        data_started = True
        code, reply = smtp.data(content)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
    except (smtplib.SMTPException, OSError) as exc:
        raise _smtp_failure(exc, data_started=data_started) from exc
    finally:
        with suppress(smtplib.SMTPException, OSError):
            backend.close()


# -- the adapter ----------------------------------------------------------------------------


class EmailAdapter(ProviderAdapter):
    kind = "email"

    def verify_request(self, request, body):
        # E-mail never arrives by webhook: mail is fetched from the inbox's own mailbox
        # over IMAP, so nobody may post "mail" to a URL of ours. Any request is refused.
        raise SignatureInvalid("E-mail inboxes receive mail over IMAP, not by webhook.")

    def parse(self, body, content_type):
        """One raw RFC 822 message → one InboundMessage.

        `content_attributes` holds: subject, from ("Name <address>"), to and cc (lists),
        message_id, in_reply_to, references (ids without brackets, oldest first), html
        (sanitised), quoted (the folded history). Media carry their bytes; inline parts
        have `ref="cid:<Content-ID>"` so the HTML's `cid:` images can be matched.
        """
        declared = (content_type or RFC822).split(";")[0].strip().lower()
        if declared != RFC822:
            raise PayloadInvalid(f"An e-mail delivery is {RFC822}, not {declared!r}.")
        return ParsedDelivery(messages=[_parse_mail(body)])

    def fetch_media(self, media):
        if media.content is None:
            raise PermanentSendError("This e-mail attachment has no content to store.")
        return FetchedMedia(
            content=media.content,
            content_type=media.content_type or "application/octet-stream",
            filename=media.filename,
        )

    def send_message(self, message):
        sender = self.config.get("address")
        if not sender:
            raise PermanentSendError("This e-mail inbox has no sending address configured.")
        mail = self.build_mail(message)
        recipients = mail.recipients()
        backend = get_connection(fail_silently=False, timeout=_smtp_timeout())
        if isinstance(backend, SMTPBackend):
            _deliver_over_smtp(backend, mail, sender, recipients)
        else:
            # Local and test backends (console, locmem, file) cannot fail half-way.
            backend.send_messages([mail])
        return SendResult(external_id=mail.extra_headers["Message-ID"].strip("<>"))

    def build_mail(self, message):
        """The reply as a Django EmailMessage, with our threading headers."""
        conversation = message.conversation
        inbox = self.inbox
        domain = settings.INBOUND_EMAIL_DOMAIN
        address = self.config["address"]
        author = getattr(message.author, "display_name", "") if message.author else ""
        name = _one_line(f"{author} via {inbox.name}" if author else inbox.name)

        parent = (
            conversation.messages.filter(direction="inbound")
            .exclude(kind="note")
            .order_by("-created_at", "-pk")
            .first()
        )
        attributes = (parent.content_attributes or {}) if parent else {}
        subject = _one_line(attributes.get("subject"))
        if subject and not re.match(r"^\s*re\s*:", subject, re.IGNORECASE):
            subject = f"Re: {subject}"
        headers = {"Message-ID": f"<{conversation.uuid}.{message.pk}@{domain}>"}
        parent_id = attributes.get("message_id") or ""
        if parent_id:
            headers["In-Reply-To"] = f"<{parent_id}>"
            references = _references_for(attributes.get("references") or [], parent_id)
            headers["References"] = _bracketed(references)

        mail = EmailMessage(
            subject=subject or _one_line(inbox.name),
            body=message.body,
            from_email=_format_address(name, address),
            to=[conversation.contact_identity.external_id],
            reply_to=[f"reply+{conversation.uuid}@{domain}"],
            headers=headers,
        )
        for attachment in message.attachments.all():
            with attachment.file.open("rb") as handle:
                mail.attach(attachment.original_name, handle.read(), attachment.content_type)
        return mail


def _smtp_timeout():
    return getattr(settings, "EMAIL_TIMEOUT", None) or DEFAULT_TIMEOUT


# -- IMAP polling ---------------------------------------------------------------------------


class MailboxUnavailable(Exception):
    """The inbox's IMAP mailbox could not be read (unreachable, login refused, no folder)."""


def poll_mailbox(inbox, state, *, batch_size=50, max_messages=500):
    """New raw messages in the inbox's IMAP mailbox, oldest first, and the state to keep.

    `state` is what the previous poll returned (empty for the first poll, which reads
    the whole mailbox): {"uidvalidity", "last_uid", "last_internaldate"}. Messages with a
    UID above `last_uid` are new; they are fetched `batch_size` at a time, at most
    `max_messages` per poll (the next poll continues). The mailbox is opened read-only
    and bodies are fetched with BODY.PEEK[], so nothing is marked seen by us.

    When UIDVALIDITY changed (the folder was recreated or the server migrated), the old
    UIDs mean nothing. We then take the messages whose INTERNALDATE is at or after the
    newest one we had fetched (kept as `last_internaldate`) and continue from the
    mailbox's current highest UID. We chose the date over "everything unseen" because
    the seen flag belongs to the people who also read this mailbox in their own mail
    client, not to us. A message of that same second may come twice; inbound events
    dedupe on the Message-ID.
    """
    config = inbox.provider_config or {}
    secrets = inbox.provider_secrets or {}
    state = state or {}
    try:
        client = IMAPClient(
            config["imap_host"],
            port=int(config.get("imap_port") or 0) or None,
            ssl=config.get("imap_ssl", True),
            timeout=DEFAULT_TIMEOUT,
        )
    except (OSError, IMAPClientError) as exc:
        raise MailboxUnavailable(f"Could not reach the IMAP server: {exc}") from exc
    # Timestamps as the server gives them, with their offset, not converted to local.
    client.normalise_times = False
    try:
        try:
            client.login(config.get("imap_user") or config["address"], secrets["imap_password"])
        except IMAPClientError as exc:
            raise MailboxUnavailable(f"The IMAP server refused the login: {exc}") from exc
        try:
            selected = client.select_folder(config.get("imap_mailbox") or "INBOX", readonly=True)
        except IMAPClientError as exc:
            raise MailboxUnavailable(f"The IMAP mailbox cannot be opened: {exc}") from exc
        return _poll_selected(client, selected, state, batch_size, max_messages)
    except (OSError, IMAPClientError) as exc:
        raise MailboxUnavailable(f"Reading the IMAP mailbox failed: {exc}") from exc
    finally:
        with suppress(OSError, IMAPClientError):
            client.logout()


def _poll_selected(client, selected, state, batch_size, max_messages):
    uidvalidity = int(selected[b"UIDVALIDITY"])
    last_internaldate = _as_datetime(state.get("last_internaldate"))
    saved_validity = state.get("uidvalidity")
    reset = saved_validity is not None and int(saved_validity) != uidvalidity

    if reset:
        everything = sorted(client.search("ALL"))
        newest_uid = everything[-1] if everything else 0
        if last_internaldate is None:
            candidates = everything
        else:
            # SINCE compares whole days in the server's time zone: ask a day early,
            # then compare exact internal dates.
            since = (last_internaldate - timedelta(days=1)).date()
            candidates = sorted(client.search(["SINCE", since]))
        dates = _internal_dates(client, candidates, batch_size)
        uids = [
            uid
            for uid in candidates
            if last_internaldate is None
            or (dates.get(uid) is not None and dates[uid] >= last_internaldate)
        ]
        last_uid = newest_uid
    else:
        last_uid = int(state.get("last_uid") or 0)
        # "n:*" always names the highest UID, even when it is below n: filter again.
        uids = sorted(uid for uid in client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)
        uids = uids[:max_messages]

    messages = []
    for start in range(0, len(uids), batch_size):
        batch = uids[start : start + batch_size]
        fetched = client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"])
        for uid in batch:
            data = fetched.get(uid)
            if not data or b"BODY[]" not in data:
                continue  # expunged between SEARCH and FETCH
            messages.append(bytes(data[b"BODY[]"]))
            moment = _as_datetime(data.get(b"INTERNALDATE"))
            if moment and (last_internaldate is None or moment > last_internaldate):
                last_internaldate = moment
        if not reset:
            last_uid = max(last_uid, batch[-1])

    new_state = {"uidvalidity": uidvalidity, "last_uid": last_uid}
    if last_internaldate is not None:
        new_state["last_internaldate"] = last_internaldate.isoformat()
    return messages, new_state


def _internal_dates(client, uids, batch_size):
    dates = {}
    for start in range(0, len(uids), batch_size):
        batch = uids[start : start + batch_size]
        for uid, data in client.fetch(batch, ["INTERNALDATE"]).items():
            dates[uid] = _as_datetime(data.get(b"INTERNALDATE"))
    return dates


def _as_datetime(value):
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
