"""Twilio Programmable Messaging as the sandbox speaks it: `/twilio/2010-04-01/…`."""

import base64
import json
import re
import threading
import time
from email.utils import formatdate
from urllib.parse import urlsplit

from . import payloads
from .http import Response, json_response

ACCOUNT_PATH = re.compile(r"^/twilio/2010-04-01/Accounts/(?P<sid>[^/]+)/(?P<rest>.+)$")
MEDIA_PATH = re.compile(r"^Messages/(?P<message>[^/]+)/Media/(?P<media>ME[0-9a-f]{32})$")
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
WINDOW = 24 * 3600
MAX_BODY = 1600
MAX_MEDIA = 10


def twilio_error(status, code, message):
    return json_response(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def _channel(address):
    return "whatsapp" if address.startswith("whatsapp:") else "sms"


def _bare(address):
    return address.removeprefix("whatsapp:")


class TwilioAccount:
    def __init__(self, account_sid, auth_token, numbers, **kw):
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", account_sid or ""):
            raise ValueError("An account SID is 'AC' and 32 hex digits")
        self.sid = account_sid
        self.auth_token = auth_token
        self.webhook_url = kw.pop("webhook_url", None)
        self.numbers = {}  # our number -> the URL Twilio posts its inbound messages to
        self.add_numbers(numbers)
        self.receipts = tuple(kw.pop("receipts", ("queued", "sent", "delivered")))
        self.opted_out = set(kw.pop("opted_out", ()))
        self.last_inbound = {}  # (our number, customer address) -> time
        self.messages = {}  # sid -> message resource
        self.inbound_media = {}  # ME sid -> hosted media id
        if kw:
            raise TypeError(f"Unknown Twilio account settings: {', '.join(kw)}")

    def add_numbers(self, numbers):
        if isinstance(numbers, dict):
            self.numbers.update(numbers)
        else:
            for number in numbers:
                self.numbers.setdefault(number, self.webhook_url)

    def describe(self):
        return {
            "account_sid": self.sid,
            "numbers": dict(self.numbers),
            "receipts": list(self.receipts),
            "opted_out": sorted(self.opted_out),
        }


class TwilioService:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self._lock = threading.RLock()
        self.accounts = {}

    def reset(self):
        with self._lock:
            self.accounts.clear()

    def describe(self):
        with self._lock:
            return [a.describe() for a in self.accounts.values()]

    def add_account(self, account_sid, auth_token, numbers, **kw):
        """An account. Re-adding the same SID adds numbers and keeps opt-outs and history."""
        with self._lock:
            account = self.accounts.get(account_sid)
            if account is None:
                account = self.accounts[account_sid] = TwilioAccount(
                    account_sid, auth_token, numbers, **kw
                )
            else:
                account.auth_token = auth_token
                if "receipts" in kw:
                    account.receipts = tuple(kw.pop("receipts"))
                account.webhook_url = kw.pop("webhook_url", account.webhook_url)
                account.add_numbers(numbers)
        return account

    # -- faults ----------------------------------------------------------------------------

    def rate_limited(self, fault):
        response = twilio_error(fault.status or 429, 20429, "Too Many Requests")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response

    def server_error(self, status):
        if status == 503:
            return twilio_error(503, 20503, "Service Unavailable")
        return twilio_error(500, 20500, "Internal Server Error")

    def error_answer(self, fault):
        if isinstance(fault.error, dict):
            return json_response(fault.status or fault.error.get("status", 400), fault.error)
        return twilio_error(
            fault.status or 400, int(fault.error or 21211), fault.message or "Error"
        )

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, request):
        match = ACCOUNT_PATH.match(request.path)
        if not match:
            return twilio_error(404, 20404, "The requested resource was not found")
        rest = match.group("rest")
        media = MEDIA_PATH.match(rest)
        if media and request.method == "GET":
            # Inbound media URLs answer without credentials (Twilio's default).
            return self.media(match.group("sid"), media.group("media"))
        account = self._authenticate(request, match.group("sid"))
        if account is None:
            response = twilio_error(401, 20003, "Authenticate")
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return response
        if rest == "Messages.json" and request.method == "POST":
            return self.create(request, account)
        if rest == "Messages.json" and request.method == "GET":
            with self._lock:
                items = list(account.messages.values())
            return json_response(200, {"messages": items, "page": 0, "page_size": 50})
        fetch = re.fullmatch(r"Messages/(SM|MM)([0-9a-f]{32})\.json", rest)
        if fetch and request.method == "GET":
            message = account.messages.get(fetch.group(1) + fetch.group(2))
            if message is None:
                return twilio_error(404, 20404, "The requested resource was not found")
            return json_response(200, message)
        return twilio_error(404, 20404, "The requested resource was not found")

    def _authenticate(self, request, sid):
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        with self._lock:
            account = self.accounts.get(sid)
        if account is None or user != sid or password != account.auth_token:
            return None
        return account

    # -- sending ---------------------------------------------------------------------------

    def create(self, request, account):
        if request.content_type != "application/x-www-form-urlencoded":
            return twilio_error(400, 20001, "Send parameters form-encoded")
        form = request.form
        to = (form.get("To") or [""])[0]
        from_ = (form.get("From") or [""])[0]
        service = (form.get("MessagingServiceSid") or [""])[0]
        body = (form.get("Body") or [""])[0]
        media_urls = form.get("MediaUrl") or []
        content_sid = (form.get("ContentSid") or [""])[0]
        callback = (form.get("StatusCallback") or [""])[0]
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body and not media_urls and not content_sid:
            return twilio_error(400, 21602, "Message body is required.")
        if not E164.match(_bare(to)):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if service and not re.fullmatch(r"MG[0-9a-f]{32}", service):
            return twilio_error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if from_:
            if not E164.match(_bare(from_)):
                return twilio_error(
                    400, 21212, f"The 'From' number {from_} is not a valid phone number."
                )
            if from_ not in account.numbers:
                return twilio_error(
                    400,
                    21606,
                    f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                    "number or short code for your account.",
                )
            if _channel(from_) != _channel(to):
                return twilio_error(
                    400,
                    21910,
                    "Invalid From and To pair. From and To should be of the same channel",
                )
        else:
            candidates = [n for n in account.numbers if _channel(n) == _channel(to)]
            if not candidates:
                return twilio_error(
                    400, 21606, "The Messaging Service has no sender for this channel."
                )
            from_ = candidates[0]
        if len(body) > MAX_BODY:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if len(media_urls) > MAX_MEDIA:
            return twilio_error(400, 21623, "Number of media files exceeds allowed limit")
        if content_sid:
            if not re.fullmatch(r"HX[0-9a-f]{32}", content_sid):
                return twilio_error(400, 21655, "The ContentSid is invalid.")
            variables = (form.get("ContentVariables") or [""])[0]
            if variables:
                try:
                    if not isinstance(json.loads(variables), dict):
                        raise ValueError
                except ValueError:
                    return twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
        if callback and urlsplit(callback).scheme not in ("http", "https"):
            return twilio_error(400, 21609, "Invalid StatusCallback URL")
        for url in media_urls:
            status, _, _ = self.sandbox.fetch(url)
            if status != 200:
                return twilio_error(400, 21620, f"Invalid media URL(s): {url}")
        if _channel(to) == "sms" and to in account.opted_out:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = payloads.new_twilio_sid("MM" if media_urls else "SM")
        now = formatdate(self.sandbox.now(), usegmt=True)
        base = f"/2010-04-01/Accounts/{account.sid}/Messages/{sid}"
        message = {
            "account_sid": account.sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_ if not service or (form.get("From") or [""])[0] else None,
            "messaging_service_sid": service or None,
            "num_media": str(len(media_urls)),
            "num_segments": str(max(1, -(-len(body) // 153)) if len(body) > 160 else 1),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service and not (form.get("From") or [""])[0] else "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": to,
            "uri": f"{base}.json",
        }
        with self._lock:
            account.messages[sid] = message
        after = []
        if callback:
            after.append(
                lambda: self._post_receipts(account, message, from_, callback, content_sid)
            )
        return json_response(201, message, after=after)

    def _post_receipts(self, account, message, from_, callback, content_sid):
        to = message["to"]
        statuses = list(account.receipts)
        error_code = None
        last = account.last_inbound.get((from_, to))
        if (
            _channel(to) == "whatsapp"
            and not content_sid
            and last is not None
            and self.sandbox.now() - last > WINDOW
        ):
            statuses = [s for s in statuses if s == "queued"] + ["failed"]
            error_code = 63016
        for n, status in enumerate(statuses):
            if status == "read" and _channel(to) != "whatsapp":
                continue
            if n and self.sandbox.receipt_delay:
                time.sleep(self.sandbox.receipt_delay)
            with self._lock:
                message["status"] = status
                if status == "failed":
                    message["error_code"] = error_code
            body, headers = payloads.twilio_status(
                account.auth_token,
                callback,
                message["sid"],
                status,
                from_,
                to,
                account_sid=account.sid,
                error_code=error_code if status == "failed" else None,
            )
            self.sandbox.post("twilio", callback, body, headers)

    def media(self, sid, media_sid):
        with self._lock:
            account = self.accounts.get(sid)
            media_id = account.inbound_media.get(media_sid) if account else None
        media = self.sandbox.media(media_id) if media_id else None
        if media is None:
            return twilio_error(404, 20404, "The requested resource was not found")
        return Response(200, media["content"], media["content_type"])

    # -- a customer writes -----------------------------------------------------------------

    def customer_writes(
        self, account_sid, from_, to, body="", *, media=None, url=None, profile_name=None
    ):
        """A customer's SMS/WhatsApp message to our number `to`, posted to its webhook.

        STOP/START keywords (SMS) change the opt-out the sandbox enforces on sends."""
        from .graph import _file_parts

        with self._lock:
            account = self.accounts[account_sid]
        url = url or account.numbers.get(to) or account.webhook_url
        if not url:
            raise ValueError(f"No webhook URL for {to}")
        message_sid = payloads.new_twilio_sid("MM" if media else "SM")
        items = [] if media is None else (media if isinstance(media, list) else [media])
        media_urls, media_types = [], []
        for item in items:
            content, content_type, filename = _file_parts(item)
            media_id, _ = self.sandbox.host_media(content, content_type, filename)
            media_sid = payloads.new_twilio_sid("ME")
            with self._lock:
                account.inbound_media[media_sid] = media_id
            media_urls.append(
                f"{self.sandbox.url}/twilio/2010-04-01/Accounts/{account.sid}/Messages/"
                f"{message_sid}/Media/{media_sid}"
            )
            media_types.append(content_type)
        keyword = payloads.sms_keyword_type(body) if _channel(from_) == "sms" else None
        with self._lock:
            account.last_inbound[(to, from_)] = self.sandbox.now()
            if keyword == "STOP":
                account.opted_out.add(from_)
            elif keyword == "START":
                account.opted_out.discard(from_)
        params = payloads.twilio_message_params(
            from_,
            to,
            body,
            account_sid=account.sid,
            media_urls=media_urls,
            media_types=media_types,
            message_sid=message_sid,
            profile_name=profile_name,
            opt_out_type=keyword,
        )
        form_body, headers = payloads.twilio_form(account.auth_token, url, params)
        return self.sandbox.post("twilio", url, form_body, headers)
