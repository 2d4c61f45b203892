"""The sandbox server: one local port speaking every provider's API, plus a control API.

Paths: `/graph/v<N>.<M>/…` (WhatsApp Cloud API and the Messenger/Instagram Send API),
`/telegram/bot<token>/<method>` and `/telegram/file/bot<token>/<path>` (Bot API),
`/twilio/2010-04-01/Accounts/<sid>/Messages.json` (Twilio), `/_media/<id>` (files hosted
for customers) and `/_control/…` (accounts, faults, request log, media, mail, reset).
With `smtp_port` it also runs an SMTP server that keeps every message it is sent
(`mail()`, `GET /_control/mail`): where the demo's e-mail inbox sends its replies.
"""

import base64
import contextlib
import hashlib
import logging
import queue
import re
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import httpx

from .http import DROP, Request, Response, json_response, random_digits, random_hex

logger = logging.getLogger(__name__)

PROVIDERS = ("whatsapp", "messenger", "telegram", "twilio")
FAULT_KINDS = ("429", "500", "503", "hold", "timeout", "drop", "error")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SwitchboardSandbox/1.0"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        logger.debug("sandbox: " + format, *args)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self):
        sandbox = self.server.sandbox
        body = self._read_body()
        request = Request.build(self.command, self.path, self.headers, body, sandbox.url)
        outcome = sandbox._dispatch(request)
        if outcome is DROP:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        # Counted before the answer leaves, so `wait_until_idle` right after it waits for them.
        sandbox._outbox_reserve(len(outcome.after))
        try:
            self.send_response(outcome.status)
            self.send_header("Content-Type", outcome.content_type)
            self.send_header("Content-Length", str(len(outcome.body)))
            for name, value in outcome.headers.items():
                self.send_header(name, str(value))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(outcome.body)
            self.wfile.flush()
        finally:
            # The provider took the message even when the client left before the answer.
            for job in outcome.after:
                sandbox._outbox.put(job)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Fault:
    def __init__(self, fid, provider, kind, *, path=None, count=1, retry_after=None, **options):
        if provider not in (*PROVIDERS, "media", "*"):
            raise ValueError(f"Unknown provider {provider!r}")
        if str(kind) not in FAULT_KINDS:
            raise ValueError(f"Unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        self.id = fid
        self.provider = provider
        self.kind = str(kind)
        self.path = re.compile(path) if path else None
        self.remaining = int(count)
        self.retry_after = retry_after
        self.seconds = options.get("seconds")
        self.error = options.get("error")
        self.status = options.get("status")
        self.message = options.get("message")
        # "drop": handle the request (the message is sent) and only then close the socket.
        self.process = bool(options.get("process", False))

    def matches(self, provider, path):
        if self.remaining <= 0:
            return False
        if self.provider == "*":
            if provider not in PROVIDERS:
                return False
        elif self.provider != provider:
            return False
        return self.path is None or bool(self.path.search(path))

    def describe(self):
        return {
            "id": self.id,
            "provider": self.provider,
            "fault": self.kind,
            "path": self.path.pattern if self.path else None,
            "remaining": self.remaining,
            "retry_after": self.retry_after,
        }


class Sandbox:
    """Local stand-ins for WhatsApp, Messenger/Instagram, Telegram and Twilio on one port."""

    def __init__(
        self, host="127.0.0.1", port=0, *, receipt_delay=0.0, media_url_ttl=300, smtp_port=None
    ):
        from .graph import MessengerService, WhatsAppService
        from .smtp import MailServer
        from .telegram import TelegramService
        from .twilio import TwilioService

        self.host = host
        self.port = port
        # None: no mail server; 0: one on a free port (`smtp_port` says which, once started).
        self.smtp = None if smtp_port is None else MailServer(host, smtp_port)
        # Seconds between two receipts the sandbox posts back (sent, delivered, read).
        self.receipt_delay = receipt_delay
        # How long a WhatsApp media download URL stays valid.
        self.media_url_ttl = media_url_ttl
        self._lock = threading.RLock()
        self._clock_offset = 0.0
        self._server = None
        self._thread = None
        self._stopping = threading.Event()
        self._requests = []
        self._callbacks = []
        self._faults = []
        self._held = {}
        self._fault_seq = 0
        self._request_seq = 0
        self._media = {}
        self._changed = threading.Condition(self._lock)
        self._outbox = queue.Queue()
        self._outbox_pending = 0
        self._outbox_thread = None
        self._http = None
        self.whatsapp = WhatsAppService(self)
        self.messenger = MessengerService(self)
        self.telegram = TelegramService(self)
        self.twilio = TwilioService(self)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self):
        self._stopping.clear()
        if self.smtp is not None:
            self.smtp.start()
        try:
            self._server = _Server((self.host, self.port), _Handler)
        except OSError:
            if self.smtp is not None:
                self.smtp.stop()
            raise
        self._server.sandbox = self
        self.port = self._server.server_address[1]
        self._http = httpx.Client(timeout=httpx.Timeout(10.0), follow_redirects=False)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-http",
            daemon=True,
        )
        self._thread.start()
        self._outbox_thread = threading.Thread(
            target=self._run_outbox, name="sandbox-outbox", daemon=True
        )
        self._outbox_thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self.release()
        with self._lock:
            self._changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._outbox.put(None)
        if self._outbox_thread is not None:
            self._outbox_thread.join(timeout=5)
            self._outbox_thread = None
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.smtp is not None:
            self.smtp.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def smtp_port(self):
        return self.smtp.port if self.smtp is not None else None

    # -- mail ------------------------------------------------------------------------------

    def mail(self, to=None):
        """Mail the SMTP server received, oldest first: dicts with `mail_from`, `rcpt_tos`,
        `subject`, `message_id`, `received_at` and `content` (the raw RFC 822 bytes)."""
        return self.smtp.mail(to) if self.smtp is not None else []

    def wait_for_mail(self, count, to=None, timeout=5):
        if self.smtp is None:
            raise RuntimeError("This sandbox runs no SMTP server (start it with smtp_port).")
        return self.smtp.wait_for_mail(count, to=to, timeout=timeout)

    # -- clock -----------------------------------------------------------------------------

    def now(self):
        """The sandbox's time: the real time plus whatever `advance_clock` added."""
        return time.time() + self._clock_offset

    def advance_clock(self, seconds):
        """Move the sandbox's clock on (expires media URLs, closes service windows)."""
        with self._lock:
            self._clock_offset += float(seconds)

    # -- accounts --------------------------------------------------------------------------

    def add_whatsapp(self, phone_number_id, waba_id, access_token, app_secret, webhook_url, **kw):
        return self.whatsapp.add_account(
            phone_number_id, waba_id, access_token, app_secret, webhook_url, **kw
        )

    def add_messenger(self, page_id, page_token, app_secret, webhook_url, object="page", **kw):  # noqa: A002
        return self.messenger.add_account(
            page_id, page_token, app_secret, webhook_url, object=object, **kw
        )

    def add_instagram(self, page_id, page_token, app_secret, webhook_url, **kw):
        return self.messenger.add_account(
            page_id, page_token, app_secret, webhook_url, object="instagram", **kw
        )

    def add_telegram(self, bot_token, **kw):
        return self.telegram.add_account(bot_token, **kw)

    def add_twilio(self, account_sid, auth_token, numbers=("+15005550006",), **kw):
        return self.twilio.add_account(account_sid, auth_token, numbers, **kw)

    def add_account(self, provider, **fields):
        """One account from a JSON description, as `POST /_control/accounts` takes it."""
        if provider == "whatsapp":
            return self.add_whatsapp(**fields)
        if provider == "messenger":
            return self.add_messenger(**fields)
        if provider == "instagram":
            return self.add_instagram(**fields)
        if provider == "telegram":
            return self.add_telegram(**fields)
        if provider == "twilio":
            return self.add_twilio(**fields)
        raise ValueError(f"Unknown provider {provider!r}")

    # -- customers writing in --------------------------------------------------------------

    def whatsapp_customer_writes(self, phone_number_id, from_, text=None, image=None, **kw):
        return self.whatsapp.customer_writes(phone_number_id, from_, text, image=image, **kw)

    def messenger_customer_writes(self, page_id, psid, text=None, image=None, **kw):
        return self.messenger.customer_writes(page_id, psid, text, image=image, object="page", **kw)

    def instagram_customer_writes(self, page_id, igsid, text=None, image=None, **kw):
        return self.messenger.customer_writes(
            page_id, igsid, text, image=image, object="instagram", **kw
        )

    def telegram_customer_writes(self, bot_token, chat_id, text=None, photo=None, **kw):
        return self.telegram.customer_writes(bot_token, chat_id, text, photo=photo, **kw)

    def twilio_customer_writes(self, account_sid, from_, to, body="", media=None, **kw):
        return self.twilio.customer_writes(account_sid, from_, to, body, media=media, **kw)

    # -- hosted media ----------------------------------------------------------------------

    def host_media(self, content, content_type, filename="", owner=None):
        """Keep a file the way a provider keeps a customer's upload: (media id, public URL).

        The media id also answers the WhatsApp media endpoint (`owner`: the phone number id
        whose token may read it; None: any WhatsApp token), and each file gets a Telegram
        file id (`media(id)["file_id"]`).
        """
        media_id = random_digits(16)
        extension = _extension(content_type, filename)
        with self._lock:
            number = len(self._media) + 1
            self._media[media_id] = {
                "id": media_id,
                "content": bytes(content),
                "content_type": content_type,
                "filename": filename,
                "sha256": hashlib.sha256(content).hexdigest(),
                "owner": owner,
                "file_id": "BQACAgQAAxkB" + random_hex(40),
                "file_unique_id": "AQAD" + random_hex(12),
                "file_path": f"{_telegram_folder(content_type)}/file_{number}{extension}",
            }
        return media_id, self.media_url(media_id)

    def media_url(self, media_id):
        media = self._media[media_id]
        name = quote(media["filename"] or f"file{_extension(media['content_type'], '')}")
        return f"{self.url}/_media/{media_id}/{name}"

    def media(self, media_id):
        with self._lock:
            return self._media.get(media_id)

    def find_media(self, **where):
        with self._lock:
            for media in self._media.values():
                if all(media.get(k) == v for k, v in where.items()):
                    return media
        return None

    # -- faults ----------------------------------------------------------------------------

    def queue_fault(self, provider, fault, *, path=None, count=1, retry_after=None, **options):
        """The next `count` requests to `provider` (matching `path`, a regex) fail so.

        fault: "429" (the provider's rate-limit answer), "500", "503", "hold" (wait for
        `release`), "timeout" (wait `seconds`, then answer), "drop" (close the connection
        without an answer; `process=True` handles the request first), "error" (answer
        `error`: a whole provider error body, or an error code, with `status`).
        Returns the fault's id.
        """
        with self._lock:
            self._fault_seq += 1
            item = Fault(
                f"f{self._fault_seq}",
                provider,
                fault,
                path=path,
                count=count,
                retry_after=retry_after,
                **options,
            )
            self._faults.append(item)
            return item.id

    def faults(self):
        with self._lock:
            return [f.describe() for f in self._faults if f.remaining > 0]

    def _take_fault(self, provider, path):
        with self._lock:
            for item in self._faults:
                if item.matches(provider, path):
                    item.remaining -= 1
                    return item
        return None

    def held(self):
        with self._lock:
            return [
                {k: v for k, v in h.items() if k != "event"}
                for h in self._held.values()
                if not h["event"].is_set()
            ]

    def release(self, id=None):  # noqa: A002 - the control API's name
        """Let held requests go on (all of them, or the one with `id`): how many."""
        with self._lock:
            items = [h for h in self._held.values() if id is None or h["id"] == id]
            for h in items:
                h["event"].set()
                self._held.pop(h["id"], None)
            return len(items)

    def wait_for_held(self, count=1, timeout=5):
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.held()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.held())} held requests, wanted {count}")
                self._changed.wait(left)
            return self.held()

    # -- request log -----------------------------------------------------------------------

    def requests(self, provider=None):
        with self._lock:
            return [dict(r) for r in self._requests if provider in (None, r["provider"])]

    def callbacks(self, provider=None):
        """What the sandbox posted back (receipts, customer messages) and the answers."""
        with self._lock:
            return [dict(c) for c in self._callbacks if provider in (None, c["provider"])]

    def wait_for_callbacks(self, count, provider=None, timeout=5):
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.callbacks(provider)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self.callbacks(provider))} callbacks posted, wanted {count}"
                    )
                self._changed.wait(left)
            return self.callbacks(provider)

    def wait_until_idle(self, timeout=5):
        """Wait until every receipt queued so far was posted."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._outbox_pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the sandbox is still posting receipts")
                self._changed.wait(left)

    def reset(self, accounts=False):
        """Forget faults, held requests, the request and callback logs, received mail (and
        accounts)."""
        self.release()
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._callbacks.clear()
            self._clock_offset = 0.0
            if self.smtp is not None:
                self.smtp.clear()
            if accounts:
                self._media.clear()
                for service in (self.whatsapp, self.messenger, self.telegram, self.twilio):
                    service.reset()

    # -- outgoing posts --------------------------------------------------------------------

    def _outbox_reserve(self, count):
        with self._lock:
            self._outbox_pending += count

    def _run_outbox(self):
        while True:
            job = self._outbox.get()
            if job is None:
                return
            try:
                if self.receipt_delay:
                    self._stopping.wait(self.receipt_delay)
                if not self._stopping.is_set():
                    job()
            except Exception:
                logger.exception("sandbox: posting a callback failed")
            finally:
                with self._lock:
                    self._outbox_pending -= 1
                    self._changed.notify_all()

    def post(self, provider, url, body, headers):
        """POST `body` (exact bytes) to `url`, log it, and return the httpx response."""
        record = {
            "provider": provider,
            "url": url,
            "headers": dict(headers),
            "body": body,
            "time": self.now(),
            "status": None,
            "error": None,
        }
        client = self._http or httpx.Client(timeout=10.0)
        try:
            response = client.post(url, content=body, headers=headers)
            record["status"] = response.status_code
            return response
        except httpx.HTTPError as exc:
            record["error"] = f"{exc.__class__.__name__}: {exc}"
            raise
        finally:
            with self._lock:
                self._callbacks.append(record)
                self._changed.notify_all()
            if client is not self._http:
                client.close()

    def fetch(self, url):
        """GET a URL as a provider fetches a file it was given: (status, bytes, type)."""
        client = self._http or httpx.Client(timeout=10.0)
        try:
            response = client.get(url, follow_redirects=True)
            return response.status_code, response.content, response.headers.get("content-type", "")
        except httpx.HTTPError:
            return None, b"", ""
        finally:
            if client is not self._http:
                client.close()

    # -- dispatch --------------------------------------------------------------------------

    def _route(self, request):
        path = request.path
        if path.startswith("/graph/"):
            return self._route_graph(request)
        if path.startswith("/telegram/"):
            return "telegram", self.telegram.handle
        if path.startswith("/twilio/"):
            return "twilio", self.twilio.handle
        if path.startswith("/_media/"):
            return "media", self._serve_media
        return None, None

    def _route_graph(self, request):
        if self.messenger.owns(request):
            return "messenger", self.messenger.handle
        return "whatsapp", self.whatsapp.handle

    def _dispatch(self, request):
        if request.path.startswith("/_control/"):
            try:
                return self._control(request)
            except (ValueError, TypeError, KeyError) as exc:
                return json_response(400, {"error": str(exc)})
        provider, handler = self._route(request)
        if handler is None:
            return Response(404, b"Not Found", "text/plain")
        with self._lock:
            self._request_seq += 1
            entry = {"id": self._request_seq, "provider": provider, "time": self.now()}
            entry.update(request.record())
            entry["status"] = None
            self._requests.append(entry)
        fault = self._take_fault(provider, request.path)
        outcome = None
        if fault is not None:
            outcome = self._apply_fault(fault, provider, request, entry)
        if outcome is None:
            try:
                outcome = handler(request)
            except Exception:
                logger.error("sandbox: handler failed\n%s", traceback.format_exc())
                outcome = Response(500, b"sandbox error", "text/plain")
        if fault is not None and fault.kind == "drop":
            outcome = DROP
        with self._lock:
            entry["status"] = "dropped" if outcome is DROP else outcome.status
            if fault is not None:
                entry["fault"] = fault.kind
        return outcome

    def _apply_fault(self, fault, provider, request, entry):
        """The fault's answer, or None to let the provider answer normally."""
        service = self._service(provider)
        if fault.kind == "429":
            return service.rate_limited(fault)
        if fault.kind in ("500", "503"):
            return service.server_error(int(fault.kind))
        if fault.kind == "error":
            return service.error_answer(fault)
        if fault.kind == "drop":
            return None if fault.process else DROP
        if fault.kind == "timeout":
            self._stopping.wait(float(fault.seconds or fault.retry_after or 30))
            return None
        event = threading.Event()
        with self._lock:
            hold_id = f"h{entry['id']}"
            self._held[hold_id] = {
                "id": hold_id,
                "fault": fault.id,
                "provider": provider,
                "method": request.method,
                "path": request.path,
                "request": entry["id"],
                "time": self.now(),
                "event": event,
            }
            self._changed.notify_all()
        event.wait()
        return None

    def _service(self, provider):
        return {
            "whatsapp": self.whatsapp,
            "messenger": self.messenger,
            "telegram": self.telegram,
            "twilio": self.twilio,
        }.get(provider, _PlainService)

    def _serve_media(self, request):
        media_id = request.path.split("/")[2]
        media = self.media(media_id)
        if media is None or request.path not in (
            f"/_media/{media_id}",
            self.media_url(media_id).removeprefix(self.url),
        ):
            return Response(404, b"Not Found", "text/plain")
        return Response(200, media["content"], media["content_type"])

    # -- control API -----------------------------------------------------------------------

    def _control(self, request):
        action = request.path[len("/_control/") :].strip("/")
        data = request.json if isinstance(request.json, dict) else {}
        method = request.method
        if action == "accounts" and method == "POST":
            data = dict(data)
            provider = data.pop("provider")
            if "receipts" in data:
                data["receipts"] = tuple(data["receipts"])
            self.add_account(provider, **data)
            return json_response(201, {"ok": True})
        if action == "accounts" and method == "GET":
            return json_response(200, self.accounts())
        if action == "faults" and method == "POST":
            data = dict(data)
            fid = self.queue_fault(data.pop("provider", "*"), data.pop("fault"), **data)
            return json_response(201, {"id": fid})
        if action == "faults" and method == "GET":
            return json_response(200, self.faults())
        if action == "release" and method == "POST":
            return json_response(200, {"released": self.release(data.get("id"))})
        if action == "held" and method == "GET":
            return json_response(200, self.held())
        if action == "requests" and method == "GET":
            return json_response(200, self.requests(request.first("provider")))
        if action == "callbacks" and method == "GET":
            records = self.callbacks(request.first("provider"))
            for r in records:
                r["body"] = r["body"].decode("utf-8", "replace")
            return json_response(200, records)
        if action == "reset" and method == "POST":
            self.reset(accounts=bool(data.get("accounts")))
            return json_response(200, {"ok": True})
        if action == "clock" and method == "POST":
            self.advance_clock(float(data.get("advance", 0)))
            return json_response(200, {"now": self.now()})
        if action == "media" and method == "POST":
            return self._control_media(request, data)
        if action == "telegram/chats" and method == "POST":
            self.telegram.add_chat(data["bot_token"], data["chat_id"], **data.get("user", {}))
            return json_response(201, {"ok": True})
        if action == "customer_writes" and method == "POST":
            return self._control_customer_writes(data)
        if action == "mail" and method == "GET":
            records = self.mail(request.first("to"))
            for r in records:
                r["content"] = r["content"].decode("utf-8", "replace")
            return json_response(200, records)
        return json_response(404, {"error": f"no control action {method} {action}"})

    def _control_media(self, request, data):
        if request.content_type == "application/json":
            content = base64.b64decode(data["content_base64"])
            content_type = data.get("content_type", "application/octet-stream")
            filename = data.get("filename", "")
            owner = data.get("owner")
        elif request.files:
            upload = next(iter(request.files.values()))
            content, content_type, filename = upload.content, upload.content_type, upload.filename
            owner = request.first("owner")
        else:
            content = request.body
            content_type = request.headers.get("content-type", "application/octet-stream")
            filename = request.first("filename", "")
            owner = request.first("owner")
        media_id, url = self.host_media(content, content_type, filename, owner=owner)
        media = self.media(media_id)
        return json_response(
            201,
            {
                "id": media_id,
                "url": url,
                "file_id": media["file_id"],
                "file_unique_id": media["file_unique_id"],
                "sha256": media["sha256"],
                "size": len(media["content"]),
                "content_type": content_type,
                "filename": filename,
            },
        )

    def _control_customer_writes(self, data):
        data = dict(data)
        provider = data.pop("provider")
        if provider == "telegram":
            if "media_id" in data:
                data["photo"] = self.media(data.pop("media_id"))
            result = self.telegram_customer_writes(**data)
        elif provider == "whatsapp":
            result = self.whatsapp_customer_writes(**data)
        elif provider == "messenger":
            result = self.messenger_customer_writes(**data)
        elif provider == "instagram":
            result = self.instagram_customer_writes(**data)
        elif provider == "twilio":
            result = self.twilio_customer_writes(**data)
        else:
            raise ValueError(f"Unknown provider {provider!r}")
        if isinstance(result, httpx.Response):
            return json_response(200, {"posted": True, "status": result.status_code})
        return json_response(200, {"posted": False, "queued": result})

    def accounts(self):
        return {
            "whatsapp": self.whatsapp.describe(),
            "messenger": self.messenger.describe(),
            "telegram": self.telegram.describe(),
            "twilio": self.twilio.describe(),
        }


class _PlainService:
    """Fault answers for paths that are not a provider's API (hosted media)."""

    @staticmethod
    def rate_limited(fault):
        return Response(429, b"Too Many Requests", "text/plain")

    @staticmethod
    def server_error(status):
        return Response(status, b"Server Error", "text/plain")

    @staticmethod
    def error_answer(fault):
        body = fault.error if isinstance(fault.error, dict) else {"error": fault.error}
        return json_response(fault.status or 400, body)


_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "audio/ogg": ".oga",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
    "text/plain": ".txt",
}


def _extension(content_type, filename):
    if content_type in _EXTENSIONS:
        return _EXTENSIONS[content_type]
    if filename and "." in filename:
        return "." + filename.rsplit(".", 1)[1]
    return ".bin"


def _telegram_folder(content_type):
    if content_type.startswith("image/"):
        return "photos"
    if content_type.startswith("audio/"):
        return "voice"
    if content_type.startswith("video/"):
        return "videos"
    return "documents"


def control_client_post(sandbox_url, action, payload, timeout=10.0):
    """POST JSON to a running sandbox's control API (used by `manage.py simulate`)."""
    response = httpx.post(
        f"{sandbox_url.rstrip('/')}/_control/{action}", json=payload, timeout=timeout
    )
    response.raise_for_status()
    return response.json()
