"""Meta's Graph API as the sandbox speaks it: the WhatsApp Cloud API and the Messenger
(and Instagram) Send API, with their receipts posted back as signed webhooks."""

import base64
import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from urllib.parse import urlencode, urlsplit

from . import payloads
from .http import Response, json_response

VERSIONED = re.compile(r"^/graph/v\d+\.\d+/(?P<rest>.+?)/?$")
DOWNLOAD_PATH = "/graph/whatsapp_business/attachments/"
PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
WINDOW = 24 * 3600
HUMAN_AGENT_WINDOW = 7 * 24 * 3600

DEFAULT_TEMPLATES = (
    {
        "name": "hello_world",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hello World"}],
    },
    {
        "name": "order_update",
        "language": "es",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} va en camino."}],
    },
    {
        "name": "appointment_reminder",
        "language": "en",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hi {{1}}, see you on {{2}} at {{3}}."}],
    },
    {
        "name": "spring_sale",
        "language": "en",
        "status": "PENDING",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Our spring sale starts now, {{1}}!"}],
    },
    {
        "name": "old_offer",
        "language": "en",
        "status": "REJECTED",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "An offer."}],
    },
)

MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
UPLOAD_TYPES = {
    "image/jpeg",
    "image/png",
    "image/webp",
    "audio/aac",
    "audio/amr",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "video/mp4",
    "video/3gpp",
    "text/plain",
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
TOP_LEVEL = {
    "messaging_product",
    "recipient_type",
    "to",
    "type",
    "context",
    "biz_opaque_callback_data",
    "status",
    "message_id",
    "typing_indicator",
    "text",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "template",
    "reaction",
    "location",
    "interactive",
    "contacts",
}
SENDABLE = {
    "text",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "template",
    "reaction",
    "location",
}


def fbtrace_id():
    return base64.urlsafe_b64encode(secrets.token_bytes(8)).decode().rstrip("=")


def graph_error(status, code, message, *, subcode=None, details=None, whatsapp=True, **extra):
    error = {"message": message, "type": "OAuthException", "code": code}
    if subcode:
        error["error_subcode"] = subcode
    if whatsapp:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details or message}
    error.update(extra)
    error["fbtrace_id"] = fbtrace_id()
    return json_response(status, {"error": error})


def bad_token(whatsapp=True):
    return graph_error(
        401,
        190,
        "Invalid OAuth access token - Cannot parse access token",
        whatsapp=False,
    )


def unknown_object(object_id, method="post", whatsapp=True):
    return graph_error(
        400,
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        subcode=33,
        whatsapp=False,
    )


def invalid_param(message, code=100, whatsapp=True, subcode=None):
    prefix = f"(#{code}) " if code == 100 else ""
    return graph_error(400, code, prefix + message, whatsapp=whatsapp, subcode=subcode)


class GraphFaults:
    """The answers every Graph family gives to injected faults."""

    rate_limit_code = 4
    rate_limit_message = "(#4) Application request limit reached"
    whatsapp = True

    def rate_limited(self, fault):
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        response = graph_error(
            fault.status or 429,
            self.rate_limit_code,
            self.rate_limit_message,
            whatsapp=self.whatsapp,
        )
        response.headers.update(headers)
        return response

    def server_error(self, status):
        if status == 503:
            return graph_error(
                503, 2, "Service temporarily unavailable", whatsapp=False, is_transient=True
            )
        return graph_error(500, 1, "An unknown error occurred", whatsapp=False, is_transient=True)

    def error_answer(self, fault):
        if isinstance(fault.error, dict):
            return json_response(fault.status or 400, fault.error)
        code = int(fault.error or 100)
        return graph_error(
            fault.status or 400,
            code,
            fault.message or f"(#{code}) Error",
            whatsapp=self.whatsapp,
        )


def _access_token(request):
    return request.bearer_token() or request.first("access_token")


class WhatsAppAccount:
    def __init__(self, phone_number_id, waba_id, access_token, app_secret, webhook_url, **kw):
        self.phone_number_id = str(phone_number_id)
        self.waba_id = str(waba_id)
        self.access_token = access_token
        self.app_secret = app_secret
        self.webhook_url = webhook_url
        self.display_phone_number = kw.pop("display_phone_number", "15550001111")
        templates = kw.pop("templates", None)
        self.templates = [dict(t) for t in (DEFAULT_TEMPLATES if templates is None else templates)]
        for n, template in enumerate(self.templates):
            template.setdefault("id", str(1000000000000 + n))
            template.setdefault("status", "APPROVED")
            template.setdefault("category", "UTILITY")
            template.setdefault("components", [])
        self.receipts = tuple(kw.pop("receipts", ("sent", "delivered", "read")))
        if kw:
            raise TypeError(f"Unknown WhatsApp account settings: {', '.join(kw)}")

    def describe(self):
        return {
            "phone_number_id": self.phone_number_id,
            "waba_id": self.waba_id,
            "display_phone_number": self.display_phone_number,
            "webhook_url": self.webhook_url,
            "receipts": list(self.receipts),
            "templates": [t["name"] for t in self.templates],
        }


class WhatsAppService(GraphFaults):
    rate_limit_code = 130429
    rate_limit_message = "(#130429) Rate limit hit"

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self._lock = threading.RLock()
        self.accounts = {}
        # (phone_number_id, wa_id) -> the time of the customer's last message.
        self.last_inbound = {}
        self.sent = {}

    def reset(self):
        with self._lock:
            self.accounts.clear()
            self.last_inbound.clear()
            self.sent.clear()

    def describe(self):
        with self._lock:
            return [a.describe() for a in self.accounts.values()]

    def add_account(self, phone_number_id, waba_id, access_token, app_secret, webhook_url, **kw):
        account = WhatsAppAccount(
            phone_number_id, waba_id, access_token, app_secret, webhook_url, **kw
        )
        with self._lock:
            self.accounts[account.phone_number_id] = account
        return account

    def _by_token(self, token):
        with self._lock:
            return [a for a in self.accounts.values() if token and a.access_token == token]

    def known_ids(self):
        with self._lock:
            ids = set(self.accounts)
            ids.update(a.waba_id for a in self.accounts.values())
        return ids

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, request):
        if request.path == DOWNLOAD_PATH.rstrip("/") or request.path == DOWNLOAD_PATH:
            return self.download(request)
        match = VERSIONED.match(request.path)
        if not match:
            return graph_error(400, 2500, "Unknown path components", whatsapp=False)
        parts = match.group("rest").split("/")
        token = _access_token(request)
        mine = self._by_token(token)
        if not mine:
            return bad_token()
        if len(parts) == 2 and parts[1] == "messages" and request.method == "POST":
            return self.send(request, parts[0], mine)
        if len(parts) == 2 and parts[1] == "media" and request.method == "POST":
            return self.upload(request, parts[0], mine)
        if len(parts) == 2 and parts[1] == "message_templates" and request.method == "GET":
            return self.templates(request, parts[0], mine)
        if len(parts) == 1 and request.method in ("GET", "DELETE"):
            return self.media_info(request, parts[0], mine)
        return unknown_object(parts[0], request.method.lower())

    def _account_for(self, object_id, mine):
        for account in mine:
            if account.phone_number_id == object_id:
                return account
        return None

    # -- send ------------------------------------------------------------------------------

    def send(self, request, phone_number_id, mine):
        account = self._account_for(phone_number_id, mine)
        if account is None:
            return unknown_object(phone_number_id)
        if request.content_type != "application/json" or not isinstance(request.json, dict):
            return invalid_param("The request body must be a JSON object.")
        data = request.json
        if data.get("messaging_product") != "whatsapp":
            return invalid_param("The parameter messaging_product is required.")
        unknown = set(data) - TOP_LEVEL
        if unknown:
            return invalid_param(f"Param {sorted(unknown)[0]} is not a valid parameter.")
        if "status" in data:
            return self._mark_read(data)
        to = data.get("to")
        if not to:
            return invalid_param("The parameter to is required.")
        wa_id = str(to).lstrip("+")
        if not re.fullmatch(r"\d{8,15}", wa_id):
            return graph_error(
                400,
                131009,
                "(#131009) Parameter value is not valid",
                details=f"Recipient phone number '{to}' is not valid.",
            )
        kind = data.get("type", "text")
        if kind not in SENDABLE:
            return graph_error(
                400,
                131051,
                "(#131051) Unsupported message type",
                details=f"Message type '{kind}' is not supported.",
            )
        if kind not in data or not isinstance(data[kind], dict):
            return invalid_param(f"The parameter {kind} is required.")
        context = data.get("context")
        if context is not None:
            message_id = context.get("message_id") if isinstance(context, dict) else None
            if not isinstance(message_id, str) or not message_id.startswith("wamid."):
                return invalid_param("Param context[message_id] must be a valid message id.")
        check = getattr(self, f"_check_{kind}", None) or self._check_media
        problem = check(account, kind, data[kind])
        if problem is not None:
            return problem
        wamid = payloads.new_wamid(wa_id)
        message = {"id": wamid}
        if kind == "template":
            message["message_status"] = "accepted"
        with self._lock:
            self.sent[wamid] = {"account": account.phone_number_id, "to": wa_id, "data": data}
        after = [lambda: self._post_receipts(account, wamid, wa_id, kind, data)]
        return json_response(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": str(to), "wa_id": wa_id}],
                "messages": [message],
            },
            after=after,
        )

    def _mark_read(self, data):
        if data.get("status") != "read":
            return invalid_param("Param status must be 'read'.")
        message_id = data.get("message_id")
        if not isinstance(message_id, str) or not message_id.startswith("wamid."):
            return invalid_param("The parameter message_id is required.")
        return json_response(200, {"success": True})

    def _check_text(self, account, kind, text):
        body = text.get("body")
        if not isinstance(body, str) or not body.strip():
            return invalid_param("The parameter text['body'] is required.")
        if len(body) > 4096:
            return invalid_param("Param text['body'] must be at most 4096 characters long.")
        if set(text) - {"body", "preview_url"}:
            return invalid_param("Param text contains unknown fields.")
        return None

    def _check_media(self, account, kind, media):
        has_link, has_id = "link" in media, "id" in media
        if has_link == has_id:
            return invalid_param(f"Param {kind} must have exactly one of link or id.")
        if has_link:
            link = str(media["link"])
            if urlsplit(link).scheme not in ("http", "https"):
                return invalid_param(f"Param {kind}['link'] is not a valid URL.")
        elif self.sandbox.media(str(media["id"])) is None:
            return invalid_param(f"Param {kind}['id'] is not a valid media id.")
        allowed = {"link", "id", "caption", "filename"}
        if kind == "audio" or kind == "sticker":
            allowed = {"link", "id"}
        elif kind != "document":
            allowed.discard("filename")
        if set(media) - allowed:
            return invalid_param(
                f"Param {kind} has unsupported fields: {sorted(set(media) - allowed)}."
            )
        return None

    def _check_template(self, account, kind, template):
        name = template.get("name")
        language = template.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        if not name or not code:
            return invalid_param("Param template requires name and language.code.")
        for known in account.templates:
            if known["name"] == name and known["language"] == code:
                break
        else:
            return graph_error(
                404,
                132001,
                "(#132001) Template name does not exist in the translation",
                details=f"template name ({name}) does not exist in {code}",
            )
        if known["status"] != "APPROVED":
            return graph_error(
                400,
                132001,
                "(#132001) Template name does not exist in the translation",
                details=f"template name ({name}) is not approved ({known['status']})",
            )
        expected = set()
        for component in known["components"]:
            if str(component.get("type", "")).upper() == "BODY":
                expected = set(PLACEHOLDER.findall(component.get("text", "")))
        given = 0
        for component in template.get("components") or []:
            if str(component.get("type", "")).lower() == "body":
                given = len(component.get("parameters") or [])
        if given != len(expected):
            return graph_error(
                400,
                132000,
                "(#132000) Number of parameters does not match the expected number of params",
                details=f"body: number of localizable_params ({given}) does not match the "
                f"expected number of params ({len(expected)})",
            )
        return None

    def _check_reaction(self, account, kind, reaction):
        if not str(reaction.get("message_id", "")).startswith("wamid.") or "emoji" not in reaction:
            return invalid_param("Param reaction requires message_id and emoji.")
        return None

    def _check_location(self, account, kind, location):
        if "latitude" not in location or "longitude" not in location:
            return invalid_param("Param location requires latitude and longitude.")
        return None

    def _post_receipts(self, account, wamid, wa_id, kind, data):
        failure = None
        last = self.last_inbound.get((account.phone_number_id, wa_id))
        if kind != "template" and last is not None and self.sandbox.now() - last > WINDOW:
            failure = {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {
                    "details": "Message failed to send because more than 24 hours have passed "
                    "since the customer last replied to this number."
                },
            }
        link = data.get(kind, {}).get("link") if kind in MEDIA_TYPES else None
        if failure is None and link:
            status, _, _ = self.sandbox.fetch(link)
            if status != 200:
                failure = {
                    "code": 131053,
                    "title": "Media upload error",
                    "message": "Media upload error",
                    "error_data": {"details": f"Downloading media from {link} failed ({status})."},
                }
        statuses = ["failed"] if failure else list(account.receipts)
        for n, status in enumerate(statuses):
            if n and self.sandbox.receipt_delay:
                time.sleep(self.sandbox.receipt_delay)
            errors = None
            if status == "failed":
                errors = [
                    failure
                    or {
                        "code": 131026,
                        "title": "Message undeliverable",
                        "message": "Message undeliverable",
                        "error_data": {"details": "Message undeliverable"},
                    }
                ]
            payload = payloads.whatsapp_status_payload(
                account.waba_id,
                account.phone_number_id,
                account.display_phone_number,
                wamid,
                status,
                wa_id,
                timestamp=self.sandbox.now(),
                errors=errors,
            )
            body, headers = payloads.meta_json(account.app_secret, payload)
            self.sandbox.post("whatsapp", account.webhook_url, body, headers)

    # -- media -----------------------------------------------------------------------------

    def upload(self, request, phone_number_id, mine):
        account = self._account_for(phone_number_id, mine)
        if account is None:
            return unknown_object(phone_number_id)
        if request.content_type != "multipart/form-data":
            return invalid_param("Upload media as multipart/form-data.")
        if request.first("messaging_product") != "whatsapp":
            return invalid_param("The parameter messaging_product is required.")
        upload = request.files.get("file")
        if upload is None:
            return invalid_param("The parameter file is required.")
        content_type = request.first("type") or upload.content_type
        if not content_type:
            return invalid_param("The parameter type is required.")
        if content_type not in UPLOAD_TYPES:
            return graph_error(
                400,
                131053,
                "(#131053) Media upload error",
                details=f"Unsupported file type {content_type}.",
            )
        media_id, _ = self.sandbox.host_media(
            upload.content, content_type, upload.filename, owner=account.phone_number_id
        )
        return json_response(200, {"id": media_id})

    def _readable(self, media, mine):
        return media is not None and (
            media["owner"] is None or any(a.phone_number_id == media["owner"] for a in mine)
        )

    def media_info(self, request, media_id, mine):
        media = self.sandbox.media(media_id)
        if not self._readable(media, mine):
            return unknown_object(media_id, request.method.lower())
        if request.method == "DELETE":
            with self.sandbox._lock:
                self.sandbox._media.pop(media_id, None)
            return json_response(200, {"success": True})
        # Rounded up: a URL lives its whole lifetime, not up to a second less.
        expires = math.ceil(self.sandbox.now() + self.sandbox.media_url_ttl)
        query = urlencode(
            {"mid": media_id, "ext": expires, "hash": self._url_hash(media_id, expires)}
        )
        return json_response(
            200,
            {
                "messaging_product": "whatsapp",
                "url": f"{self.sandbox.url}{DOWNLOAD_PATH}?{query}",
                "mime_type": media["content_type"],
                "sha256": media["sha256"],
                "file_size": len(media["content"]),
                "id": media_id,
            },
        )

    def _url_hash(self, media_id, expires):
        key = f"{id(self.sandbox)}".encode()
        return hmac.new(key, f"{media_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:24]

    def download(self, request):
        mine = self._by_token(request.bearer_token())
        if not mine:
            return bad_token()
        media_id = request.first("mid", "")
        expires = request.first("ext", "0")
        if not hmac.compare_digest(request.first("hash", ""), self._url_hash(media_id, expires)):
            return Response(404, b"URL signature mismatch", "text/plain")
        if not expires.isdigit() or int(expires) < self.sandbox.now():
            return Response(404, b"URL signature expired", "text/plain")
        media = self.sandbox.media(media_id)
        if not self._readable(media, mine):
            return Response(404, b"Not Found", "text/plain")
        return Response(200, media["content"], media["content_type"])

    # -- templates -------------------------------------------------------------------------

    def templates(self, request, waba_id, mine):
        accounts = [a for a in mine if a.waba_id == waba_id]
        if not accounts:
            return unknown_object(waba_id, "get")
        items = accounts[0].templates
        for field in ("status", "name", "language", "category"):
            wanted = request.first(field)
            if wanted:
                items = [t for t in items if str(t.get(field)).upper() == wanted.upper()]
        try:
            limit = max(1, min(int(request.first("limit") or 2), 100))
            start = int(base64.b64decode(request.first("after") or "MA==").decode())
        except ValueError:
            return invalid_param("Param after is not a valid cursor.", whatsapp=False)
        page = items[start : start + limit]
        body = {"data": page}
        if page:
            body["paging"] = {
                "cursors": {
                    "before": base64.b64encode(str(start).encode()).decode(),
                    "after": base64.b64encode(str(start + len(page)).encode()).decode(),
                }
            }
            if start + len(page) < len(items):
                query = {k: v[0] for k, v in request.query.items()}
                query.update(limit=limit, after=body["paging"]["cursors"]["after"])
                body["paging"]["next"] = f"{self.sandbox.url}{request.path}?{urlencode(query)}"
        return json_response(200, body)

    # -- a customer writes -----------------------------------------------------------------

    def customer_writes(
        self, phone_number_id, from_, text=None, *, image=None, document=None, name="Customer"
    ):
        account = self.accounts[str(phone_number_id)]
        media = None
        for kind, item in (("image", image), ("document", document)):
            if item is None:
                continue
            content, content_type, filename = _file_parts(item, kind)
            media_id, _ = self.sandbox.host_media(
                content, content_type, filename, owner=account.phone_number_id
            )
            stored = self.sandbox.media(media_id)
            media = {
                "type": kind,
                "mime_type": content_type,
                "sha256": stored["sha256"],
                "id": media_id,
            }
            if text:
                media["caption"] = text
            if kind == "document":
                media["filename"] = filename
        wa_id = str(from_).lstrip("+")
        with self._lock:
            self.last_inbound[(account.phone_number_id, wa_id)] = self.sandbox.now()
        body, headers = payloads.whatsapp_message(
            account.app_secret,
            account.phone_number_id,
            wa_id,
            text=text,
            media=media,
            name=name,
            waba_id=account.waba_id,
            display_phone_number=account.display_phone_number,
            timestamp=self.sandbox.now(),
        )
        return self.sandbox.post("whatsapp", account.webhook_url, body, headers)


def _file_parts(item, kind="image"):
    """(content, content type, filename) from bytes or a (content, type[, name]) tuple."""
    if isinstance(item, bytes | bytearray):
        return (
            bytes(item),
            "image/jpeg" if kind in ("image", "photo") else "application/pdf",
            ("photo.jpg" if kind in ("image", "photo") else "file.pdf"),
        )
    if isinstance(item, dict):
        return item["content"], item["content_type"], item.get("filename", "")
    content, content_type, *rest = item
    return content, content_type, rest[0] if rest else ""


# -- Messenger and Instagram -----------------------------------------------------------------

MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
MESSENGER_TAGS = (
    "HUMAN_AGENT",
    "ACCOUNT_UPDATE",
    "CONFIRMED_EVENT_UPDATE",
    "POST_PURCHASE_UPDATE",
    "CUSTOMER_FEEDBACK",
)
ATTACHMENT_TYPES = ("image", "video", "audio", "file")
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")


class MessengerAccount:
    def __init__(self, page_id, page_token, app_secret, webhook_url, object="page", **kw):  # noqa: A002
        if object not in ("page", "instagram"):
            raise ValueError("object is 'page' (Messenger) or 'instagram'")
        self.page_id = str(page_id)
        self.page_token = page_token
        self.app_secret = app_secret
        self.webhook_url = webhook_url
        self.object = object
        self.instagram_account_id = str(kw.pop("instagram_account_id", "") or self.page_id)
        self.name = kw.pop("name", "Switchboard Sandbox Page")
        default = ("echo", "delivery", "read") if object == "page" else ("echo", "read")
        self.receipts = tuple(kw.pop("receipts", default))
        known = kw.pop("known_users", None)
        # None: any numeric id is a reachable user; a list: only these (and who wrote in).
        self.known_users = None if known is None else {str(u) for u in known}
        self.unavailable = {str(u) for u in kw.pop("unavailable_users", ())}
        self.app_id = str(kw.pop("app_id", "1517854335128045"))
        if kw:
            raise TypeError(f"Unknown Messenger account settings: {', '.join(kw)}")

    @property
    def entry_id(self):
        return self.page_id if self.object == "page" else self.instagram_account_id

    def describe(self):
        return {
            "object": self.object,
            "page_id": self.page_id,
            "instagram_account_id": self.instagram_account_id,
            "webhook_url": self.webhook_url,
            "receipts": list(self.receipts),
        }


class MessengerService(GraphFaults):
    rate_limit_code = 613
    rate_limit_message = "(#613) Calls to this api have exceeded the rate limit."
    whatsapp = False

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self._lock = threading.RLock()
        self.accounts = {}  # (object, page_id) -> account
        self.last_inbound = {}  # (object, page_id, user id) -> time

    def reset(self):
        with self._lock:
            self.accounts.clear()
            self.last_inbound.clear()

    def describe(self):
        with self._lock:
            return [a.describe() for a in self.accounts.values()]

    def add_account(self, page_id, page_token, app_secret, webhook_url, **kw):
        account = MessengerAccount(page_id, page_token, app_secret, webhook_url, **kw)
        with self._lock:
            self.accounts[(account.object, account.page_id)] = account
        return account

    def _by_token(self, token):
        with self._lock:
            return [a for a in self.accounts.values() if token and a.page_token == token]

    def owns(self, request):
        match = VERSIONED.match(request.path)
        if not match:
            return False
        first = match.group("rest").split("/")[0]
        if first == "me":
            return True
        with self._lock:
            if any(a.page_id == first for a in self.accounts.values()):
                return True
        if first in self.sandbox.whatsapp.known_ids() or self.sandbox.media(first):
            return False
        return bool(self._by_token(_access_token(request)))

    def handle(self, request):
        match = VERSIONED.match(request.path)
        parts = match.group("rest").split("/")
        mine = self._by_token(_access_token(request))
        if not mine:
            return bad_token(whatsapp=False)
        if parts[0] != "me":
            mine = [a for a in mine if a.page_id == parts[0]]
            if not mine:
                return unknown_object(parts[0], request.method.lower())
        if parts[1:] == ["messages"] and request.method == "POST":
            return self.send(request, mine)
        if parts[1:] == [] and request.method == "GET":
            return json_response(200, {"name": mine[0].name, "id": mine[0].page_id})
        return unknown_object(parts[0], request.method.lower())

    def _data(self, request):
        if isinstance(request.json, dict):
            return request.json
        if request.form:
            import json

            data = {}
            for key, values in request.form.items():
                try:
                    data[key] = json.loads(values[0])
                except ValueError:
                    data[key] = values[0]
            return data
        return None

    def send(self, request, mine):
        data = self._data(request)
        if data is None:
            return invalid_param("Invalid parameter", whatsapp=False)
        recipient = data.get("recipient")
        user_id = str(recipient.get("id", "")) if isinstance(recipient, dict) else ""
        if not user_id:
            return invalid_param("The parameter recipient is required", whatsapp=False)
        account = self._choose(mine, user_id)
        if not re.fullmatch(r"\d{5,20}", user_id) or (
            account.known_users is not None
            and user_id not in account.known_users
            and (account.object, account.page_id, user_id) not in self.last_inbound
        ):
            return invalid_param("No matching user found", whatsapp=False, subcode=2018001)
        if user_id in account.unavailable:
            return graph_error(
                400,
                551,
                "(#551) This person isn't available right now.",
                subcode=1545041,
                whatsapp=False,
            )
        action = data.get("sender_action")
        if action is not None:
            if action not in SENDER_ACTIONS or "message" in data:
                return invalid_param(
                    "Param sender_action must be one of {typing_on, typing_off, mark_seen}",
                    whatsapp=False,
                )
            return json_response(200, {"recipient_id": user_id})
        problem = self._check_messaging_type(account, data, user_id)
        if problem is not None:
            return problem
        message = data.get("message")
        if not isinstance(message, dict) or ("text" in message) == ("attachment" in message):
            return invalid_param(
                "Param message must have exactly one of text or attachment", whatsapp=False
            )
        if "text" in message:
            text = message["text"]
            if not isinstance(text, str) or not text:
                return invalid_param("The parameter message[text] is required", whatsapp=False)
            if len(text) > 2000:
                return invalid_param(
                    "Length of param message[text] must be less than or equal to 2000",
                    whatsapp=False,
                )
        else:
            problem = self._check_attachment(message["attachment"])
            if problem is not None:
                return problem
        mid = payloads.new_mid()
        sent_at_ms = int(self.sandbox.now() * 1000)
        after = [lambda: self._post_receipts(account, user_id, mid, message, sent_at_ms)]
        return json_response(200, {"recipient_id": user_id, "message_id": mid}, after=after)

    def _choose(self, mine, user_id):
        for account in mine:
            if (account.object, account.page_id, user_id) in self.last_inbound:
                return account
        return sorted(mine, key=lambda a: a.object != "page")[0]

    def _check_messaging_type(self, account, data, user_id):
        kind = data.get("messaging_type")
        if kind not in MESSAGING_TYPES:
            return invalid_param(
                "param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}",
                whatsapp=False,
            )
        tag = data.get("tag")
        allowed_tags = MESSENGER_TAGS if account.object == "page" else ("HUMAN_AGENT",)
        if kind == "MESSAGE_TAG" and tag not in allowed_tags:
            return invalid_param(
                f"Param tag must be one of {{{', '.join(allowed_tags)}}}", whatsapp=False
            )
        last = self.last_inbound.get((account.object, account.page_id, user_id))
        if last is None:
            return None
        window = HUMAN_AGENT_WINDOW if tag == "HUMAN_AGENT" else WINDOW
        if kind == "MESSAGE_TAG" and tag != "HUMAN_AGENT":
            return None
        if self.sandbox.now() - last > window:
            return graph_error(
                400,
                10,
                "(#10) This message is sent outside of allowed window. Learn more about the "
                "new policy here: https://developers.facebook.com/docs/messenger-platform/"
                "policy-overview",
                subcode=2018278,
                whatsapp=False,
            )
        return None

    def _check_attachment(self, attachment):
        if not isinstance(attachment, dict) or attachment.get("type") not in ATTACHMENT_TYPES:
            return invalid_param(
                "Param message[attachment][type] must be one of {image, video, audio, file}",
                whatsapp=False,
            )
        payload = attachment.get("payload")
        if not isinstance(payload, dict) or not (
            payload.get("url") or payload.get("attachment_id")
        ):
            return invalid_param(
                "Param message[attachment][payload] needs url or attachment_id", whatsapp=False
            )
        url = payload.get("url")
        if url:
            status, _, _ = self.sandbox.fetch(url)
            if status != 200:
                return graph_error(
                    400,
                    100,
                    "(#100) Upload attachment failure.",
                    subcode=2018047,
                    whatsapp=False,
                )
        return None

    def _post_receipts(self, account, user_id, mid, message, sent_at_ms):
        for n, receipt in enumerate(account.receipts):
            if n and self.sandbox.receipt_delay:
                time.sleep(self.sandbox.receipt_delay)
            now_ms = int(self.sandbox.now() * 1000)
            if receipt == "echo":
                attachments = None
                if "attachment" in message:
                    a = message["attachment"]
                    attachments = [
                        {"type": a["type"], "payload": {"url": a["payload"].get("url", "")}}
                    ]
                event = payloads.messaging_message_event(
                    account.entry_id,
                    user_id,
                    message.get("text"),
                    attachments,
                    mid=mid,
                    time_ms=sent_at_ms,
                    echo={"app_id": int(account.app_id)},
                )
            elif receipt == "delivery" and account.object == "page":
                event = {
                    "sender": {"id": user_id},
                    "recipient": {"id": account.entry_id},
                    "timestamp": now_ms,
                    "delivery": {"mids": [mid], "watermark": now_ms},
                }
            elif receipt == "read":
                read = {"watermark": now_ms} if account.object == "page" else {"mid": mid}
                event = {
                    "sender": {"id": user_id},
                    "recipient": {"id": account.entry_id},
                    "timestamp": now_ms,
                    "read": read,
                }
            else:
                continue
            payload = payloads.messaging_envelope(
                account.object, account.entry_id, event, time_ms=now_ms
            )
            body, headers = payloads.meta_json(account.app_secret, payload, legacy_signature=True)
            self.sandbox.post(account.object, account.webhook_url, body, headers)

    def customer_writes(
        self,
        page_id,
        user_id,
        text=None,
        *,
        image=None,
        object=None,
        time_ms=None,  # noqa: A002
    ):
        with self._lock:
            candidates = [
                a
                for a in self.accounts.values()
                if a.page_id == str(page_id) and object in (None, a.object)
            ]
        if not candidates:
            raise KeyError(f"No {object or 'Messenger'} account for page {page_id}")
        account = candidates[0]
        attachments = None
        if image is not None:
            content, content_type, filename = _file_parts(image)
            _, url = self.sandbox.host_media(content, content_type, filename)
            attachments = [("image", url)]
        with self._lock:
            self.last_inbound[(account.object, account.page_id, str(user_id))] = self.sandbox.now()
        time_ms = time_ms or int(self.sandbox.now() * 1000)
        event = payloads.messaging_message_event(
            str(user_id), account.entry_id, text, attachments, time_ms=time_ms
        )
        payload = payloads.messaging_envelope(
            account.object, account.entry_id, event, time_ms=time_ms
        )
        body, headers = payloads.meta_json(account.app_secret, payload, legacy_signature=True)
        return self.sandbox.post(account.object, account.webhook_url, body, headers)
