"""The Telegram Bot API as the sandbox speaks it: `/telegram/bot<token>/<method>`."""

import json
import re
import secrets
import threading
import time
from urllib.parse import unquote, urlsplit

from . import payloads
from .http import Response, json_response

TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
METHOD_PATH = re.compile(r"^/telegram/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)/?$")
FILE_PATH = re.compile(r"^/telegram/file/bot(?P<token>[^/]+)/(?P<path>.+)$")
SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
FILE_FIELDS = {
    "sendphoto": "photo",
    "senddocument": "document",
    "sendvoice": "voice",
    "sendaudio": "audio",
    "sendvideo": "video",
}
CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
}
DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
}
LONG_POLL_CAP = 50


def ok(result, description=None):
    body = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return json_response(200, body)


def fail(code, description, **parameters):
    body = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json_response(code, body)


def bad_request(detail):
    return fail(400, f"Bad Request: {detail}")


class Bot:
    def __init__(self, token, *, username=None, first_name="Switchboard Sandbox Bot"):
        match = TOKEN.match(token or "")
        if not match:
            raise ValueError("A bot token looks like '123456:ABC-DEF…'")
        self.token = token
        self.id = int(match.group(1))
        self.username = username or f"switchboard_{self.id}_bot"
        self.first_name = first_name
        self.webhook_url = ""
        self.secret_token = None
        self.updates = []
        self.next_update_id = 100_000_000 + secrets.randbelow(800_000_000)
        self.chats = {}  # chat id -> chat object
        self.blocked = set()
        self.messages = {}  # (chat id, message id) -> Message
        self.last_message_id = {}  # chat id -> last message id

    def user(self):
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def describe(self):
        return {
            "bot_id": self.id,
            "username": self.username,
            "webhook_url": self.webhook_url,
            "pending_update_count": len(self.updates),
            "chats": sorted(self.chats),
        }


class TelegramService:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)
        self.bots = {}

    def reset(self):
        with self._lock:
            self.bots.clear()

    def describe(self):
        with self._lock:
            return [b.describe() for b in self.bots.values()]

    def add_account(
        self,
        bot_token,
        *,
        username=None,
        first_name="Switchboard Sandbox Bot",
        webhook_url=None,
        secret_token=None,
        chats=(),
    ):
        """A bot. Re-adding the same token keeps its webhook, chats and pending updates."""
        with self._lock:
            bot = self.bots.get(bot_token)
            if bot is None:
                bot = self.bots[bot_token] = Bot(
                    bot_token, username=username, first_name=first_name
                )
            elif username:
                bot.username = username
            if webhook_url is not None:
                bot.webhook_url = webhook_url
                bot.secret_token = secret_token
            for chat_id in chats:
                self.add_chat(bot_token, chat_id)
        return bot

    def add_chat(self, bot_token, chat_id, first_name="Ana", username=None):
        """A customer who started the bot: sends to this chat now work."""
        with self._lock:
            bot = self.bots[bot_token]
            chat = {"id": int(chat_id), "first_name": first_name, "type": "private"}
            if username:
                chat["username"] = username
            bot.chats[int(chat_id)] = chat
            bot.blocked.discard(int(chat_id))
            return chat

    def block(self, bot_token, chat_id):
        """The customer blocked the bot: sends answer 403."""
        with self._lock:
            self.bots[bot_token].blocked.add(int(chat_id))

    # -- faults ----------------------------------------------------------------------------

    def rate_limited(self, fault):
        seconds = int(fault.retry_after if fault.retry_after is not None else 3)
        response = fail(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        if fault.status:
            response.status = fault.status
        return response

    def server_error(self, status):
        text = "Internal Server Error" if status == 500 else "Service Unavailable"
        return fail(status, text)

    def error_answer(self, fault):
        if isinstance(fault.error, dict):
            return json_response(fault.status or fault.error.get("error_code", 400), fault.error)
        code = int(fault.error or 400)
        response = fail(code, fault.message or DESCRIPTIONS.get(code, "Error"))
        if fault.status:
            response.status = fault.status
        return response

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, request):
        match = FILE_PATH.match(request.path)
        if match:
            return self.download(unquote(match.group("token")), unquote(match.group("path")))
        match = METHOD_PATH.match(unquote(request.path))
        if not match:
            return fail(404, "Not Found")
        with self._lock:
            bot = self.bots.get(match.group("token"))
        if bot is None:
            return fail(401, "Unauthorized")
        if request.json_error or (
            request.body
            and request.content_type == "application/json"
            and not isinstance(request.json, dict)
        ):
            return bad_request("can't parse JSON object")
        method = match.group("method").lower()
        handler = getattr(self, f"m_{method}", None)
        if method in FILE_FIELDS:
            return self.send_file(bot, request, FILE_FIELDS[method])
        if handler is None:
            return fail(404, "Not Found")
        return handler(bot, request)

    # -- bot and webhook -------------------------------------------------------------------

    def m_getme(self, bot, request):
        return ok(
            {
                **bot.user(),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )

    def m_setwebhook(self, bot, request):
        url = request.first("url", "") or ""
        secret = request.first("secret_token")
        if url and urlsplit(url).scheme not in ("http", "https"):
            return bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if secret is not None and not SECRET.match(str(secret)):
            return bad_request("secret token contains unallowed characters")
        with self._lock:
            bot.webhook_url = url
            bot.secret_token = secret
            if _truthy(request.first("drop_pending_updates")):
                bot.updates.clear()
        return ok(True, "Webhook was set" if url else "Webhook was deleted")

    def m_deletewebhook(self, bot, request):
        with self._lock:
            had = bool(bot.webhook_url)
            bot.webhook_url = ""
            bot.secret_token = None
            if _truthy(request.first("drop_pending_updates")):
                bot.updates.clear()
        return ok(True, "Webhook was deleted" if had else "Webhook is already deleted")

    def m_getwebhookinfo(self, bot, request):
        info = {
            "url": bot.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if bot.webhook_url:
            info["max_connections"] = 40
            info["ip_address"] = "127.0.0.1"
        return ok(info)

    def m_getupdates(self, bot, request):
        if bot.webhook_url:
            return fail(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        try:
            offset = request.first("offset")
            offset = int(offset) if offset not in (None, "") else None
            limit = int(request.first("limit") or 100)
            timeout = min(float(request.first("timeout") or 0), LONG_POLL_CAP)
        except (TypeError, ValueError):
            return bad_request("invalid parameters")
        deadline = time.monotonic() + timeout
        with self._lock:
            if offset is not None:
                bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
            while not bot.updates and not self.sandbox._stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(min(left, 0.5))
            return ok(list(bot.updates[: max(1, min(limit, 100))]))

    def m_sendchataction(self, bot, request):
        problem, _ = self._chat(bot, request)
        if problem:
            return problem
        if request.first("action") not in CHAT_ACTIONS:
            return bad_request("wrong parameter action in request")
        return ok(True)

    # -- sending ---------------------------------------------------------------------------

    def _chat(self, bot, request):
        raw = request.first("chat_id")
        if raw in (None, ""):
            return bad_request("chat_id is empty"), None
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            return bad_request("chat not found"), None
        with self._lock:
            chat = bot.chats.get(chat_id)
            if chat is None:
                return bad_request("chat not found"), None
            if chat_id in bot.blocked:
                return fail(403, "Forbidden: bot was blocked by the user"), None
        return None, chat

    def _new_message(self, bot, request, chat, **content):
        parse_mode = request.first("parse_mode")
        if parse_mode not in (None, "", "HTML", "Markdown", "MarkdownV2"):
            return bad_request(f"unsupported parse_mode {parse_mode}"), None
        reply_to = request.first("reply_to_message_id")
        parameters = request.first("reply_parameters")
        if isinstance(parameters, str):
            try:
                parameters = json.loads(parameters)
            except ValueError:
                return bad_request("can't parse reply parameters JSON object"), None
        if isinstance(parameters, dict):
            reply_to = parameters.get("message_id")
        with self._lock:
            message_id = bot.last_message_id.get(chat["id"], 0) + 1
            bot.last_message_id[chat["id"]] = message_id
            message = {
                "message_id": message_id,
                "from": bot.user(),
                "chat": dict(chat),
                "date": int(self.sandbox.now()),
            }
            if reply_to not in (None, ""):
                replied = bot.messages.get((chat["id"], int(reply_to)))
                if replied is None:
                    return bad_request("message to be replied not found"), None
                message["reply_to_message"] = replied
            message.update(content)
            bot.messages[(chat["id"], message_id)] = message
        return None, message

    def m_sendmessage(self, bot, request):
        problem, chat = self._chat(bot, request)
        if problem:
            return problem
        text = request.first("text")
        if not isinstance(text, str) or not text.strip():
            return bad_request("message text is empty")
        if len(text) > 4096:
            return bad_request("message is too long")
        problem, message = self._new_message(bot, request, chat, text=text)
        return problem or ok(message)

    def _input_file(self, request, field):
        """(media, None) for the file a send names, or (None, an error answer)."""
        value = request.first(field)
        upload = request.files.get(field)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = request.files.get(value[len("attach://") :])
        if upload is not None:
            content_type = upload.content_type
            if content_type in ("", "application/octet-stream"):
                content_type = _guess_type(upload.filename, field)
            media_id, _ = self.sandbox.host_media(upload.content, content_type, upload.filename)
            return self.sandbox.media(media_id), None
        if not value:
            return None, bad_request(f"there is no {field} in the request")
        value = str(value)
        if value.startswith(("http://", "https://")):
            status, content, content_type = self.sandbox.fetch(value)
            if status != 200:
                return None, bad_request("failed to get HTTP URL content")
            filename = urlsplit(value).path.rsplit("/", 1)[-1]
            content_type = content_type.split(";")[0] or _guess_type(filename, field)
            media_id, _ = self.sandbox.host_media(content, content_type, filename)
            return self.sandbox.media(media_id), None
        media = self.sandbox.find_media(file_id=value)
        if media is None:
            return None, bad_request("wrong file identifier/HTTP URL specified")
        return media, None

    def send_file(self, bot, request, field):
        problem, chat = self._chat(bot, request)
        if problem:
            return problem
        media, problem = self._input_file(request, field)
        if problem:
            return problem
        content = {field: file_object(media, field)}
        caption = request.first("caption")
        if caption:
            if len(str(caption)) > 1024:
                return bad_request("message caption is too long")
            content["caption"] = str(caption)
        problem, message = self._new_message(bot, request, chat, **content)
        return problem or ok(message)

    # -- files -----------------------------------------------------------------------------

    def m_getfile(self, bot, request):
        file_id = request.first("file_id")
        media = self.sandbox.find_media(file_id=file_id) if file_id else None
        if media is None:
            return bad_request("invalid file_id")
        return ok(
            {
                "file_id": media["file_id"],
                "file_unique_id": media["file_unique_id"],
                "file_size": len(media["content"]),
                "file_path": media["file_path"],
            }
        )

    def download(self, token, file_path):
        with self._lock:
            known = token in self.bots
        if not known:
            return fail(401, "Unauthorized")
        media = self.sandbox.find_media(file_path=file_path)
        if media is None:
            return fail(404, "Not Found")
        return Response(200, media["content"], media["content_type"] or "application/octet-stream")

    # -- a customer writes -----------------------------------------------------------------

    def customer_writes(
        self, bot_token, chat_id, text=None, *, photo=None, first_name="Ana", username=None
    ):
        """A customer writes to the bot: posted to its webhook when one is set (the httpx
        response), otherwise queued for getUpdates (the update is returned)."""
        self.add_chat(bot_token, chat_id, first_name=first_name, username=username)
        with self._lock:
            bot = self.bots[bot_token]
            chat = bot.chats[int(chat_id)]
            message_id = bot.last_message_id.get(chat["id"], 0) + 1
            bot.last_message_id[chat["id"]] = message_id
            bot.next_update_id += 1
            update_id = bot.next_update_id
        photo_sizes = None
        if photo is not None:
            media = photo if isinstance(photo, dict) and "file_id" in photo else None
            if media is None:
                from .graph import _file_parts

                content, content_type, filename = _file_parts(photo, "photo")
                media_id, _ = self.sandbox.host_media(content, content_type, filename)
                media = self.sandbox.media(media_id)
            photo_sizes = file_object(media, "photo")
        update = payloads.telegram_update_payload(
            update_id,
            chat_id,
            text,
            photo_sizes,
            message_id=message_id,
            first_name=first_name,
            username=username,
            date=self.sandbox.now(),
        )
        with self._lock:
            bot.messages[(chat["id"], message_id)] = update["message"]
            webhook, secret = bot.webhook_url, bot.secret_token
            if not webhook:
                bot.updates.append(update)
                self._arrived.notify_all()
                return update
        body = json.dumps(update, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return self.sandbox.post("telegram", webhook, body, headers)


def file_object(media, field):
    """The Bot API object describing a stored file (a PhotoSize list for photos)."""
    base = {
        "file_id": media["file_id"],
        "file_unique_id": media["file_unique_id"],
        "file_size": len(media["content"]),
    }
    if field == "photo":
        return [{**base, "width": 1280, "height": 960}]
    if field == "document":
        return {
            **base,
            "file_name": media["filename"] or "document",
            "mime_type": media["content_type"],
        }
    if field in ("voice", "audio"):
        return {**base, "duration": 1, "mime_type": media["content_type"] or "audio/ogg"}
    return {**base, "duration": 1, "width": 640, "height": 480, "mime_type": media["content_type"]}


def _guess_type(filename, field):
    lower = (filename or "").lower()
    for suffix, kind in (
        (".png", "image/png"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".pdf", "application/pdf"),
        (".ogg", "audio/ogg"),
        (".oga", "audio/ogg"),
        (".mp4", "video/mp4"),
    ):
        if lower.endswith(suffix):
            return kind
    return {"photo": "image/jpeg", "voice": "audio/ogg", "video": "video/mp4"}.get(
        field, "application/octet-stream"
    )


def _truthy(value):
    return value in (True, "true", "True", "1", 1)
