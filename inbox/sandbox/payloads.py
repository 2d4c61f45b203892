"""Deliveries exactly as each provider posts them to a webhook, signed as it signs them.

Each builder returns `(body bytes, headers)`; post them unchanged. Used by the sandbox
(receipts, customers writing in), by `manage.py simulate` and by tests of our webhooks.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import urlencode

SMS_OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
SMS_OPT_IN = {"START", "YES", "UNSTOP"}
SMS_HELP = {"HELP", "INFO"}


# -- signatures ----------------------------------------------------------------------------


def meta_signature(app_secret, body, digestmod=hashlib.sha256):
    """The value of X-Hub-Signature-256 (or, with sha1, X-Hub-Signature) for `body`."""
    prefix = "sha256=" if digestmod is hashlib.sha256 else "sha1="
    return prefix + hmac.new(app_secret.encode(), body, digestmod).hexdigest()


def twilio_signature(auth_token, url, params):
    """Base64(HMAC-SHA1(auth token, URL + each POST parameter as key+value, sorted by key))."""
    data = url
    for key in sorted(params):
        values = params[key] if isinstance(params[key], list | tuple) else [params[key]]
        for value in values:
            data += f"{key}{value}"
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def meta_json(app_secret, payload, *, legacy_signature=False):
    body = json.dumps(payload, ensure_ascii=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        "X-Hub-Signature-256": meta_signature(app_secret, body),
    }
    if legacy_signature:
        headers["X-Hub-Signature"] = meta_signature(app_secret, body, hashlib.sha1)
    return body, headers


def twilio_form(auth_token, url, params):
    body = urlencode(params).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        "X-Twilio-Signature": twilio_signature(auth_token, url, params),
    }
    return body, headers


# -- ids -----------------------------------------------------------------------------------


def new_wamid(wa_id=""):
    raw = (
        f"\x18\x0b{wa_id}\x15\x02\x00\x12\x18\x14".encode() + secrets.token_hex(10).upper().encode()
    )
    return "wamid." + base64.b64encode(raw).decode()


def new_mid():
    return "m_" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")


def new_twilio_sid(prefix="SM"):
    return prefix + secrets.token_hex(16)


def _now():
    return int(time.time())


# -- WhatsApp Cloud API --------------------------------------------------------------------


def whatsapp_envelope(waba_id, phone_number_id, display_phone_number, value):
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": display_phone_number,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def whatsapp_message(
    app_secret,
    phone_number_id,
    from_,
    text=None,
    media=None,
    name="Customer",
    *,
    waba_id="102290129340398",
    display_phone_number="15550001111",
    message_id=None,
    timestamp=None,
    context=None,
):
    """A customer's message. `media`: {"type": "image", "id", "mime_type", "sha256",
    "caption"?, "filename"?} for an image/document/audio/video/sticker."""
    wa_id = from_.lstrip("+")
    message = {
        "from": wa_id,
        "id": message_id or new_wamid(wa_id),
        "timestamp": str(int(timestamp or _now())),
    }
    if context:
        message["context"] = context
    if media:
        media = dict(media)
        kind = media.pop("type")
        message["type"] = kind
        message[kind] = media
    else:
        message["type"] = "text"
        message["text"] = {"body": text or ""}
    value = {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]}
    payload = whatsapp_envelope(waba_id, phone_number_id, display_phone_number, value)
    return meta_json(app_secret, payload)


def whatsapp_status_payload(
    waba_id,
    phone_number_id,
    display_phone_number,
    message_id,
    status,
    recipient_id,
    *,
    timestamp=None,
    errors=None,
):
    item = {
        "id": message_id,
        "status": status,
        "timestamp": str(int(timestamp or _now())),
        "recipient_id": recipient_id,
    }
    if status in ("sent", "delivered"):
        item["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": "service"}}
        item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if errors:
        item["errors"] = errors
    return whatsapp_envelope(waba_id, phone_number_id, display_phone_number, {"statuses": [item]})


def whatsapp_status(
    app_secret,
    phone_number_id,
    message_id,
    status,
    recipient_id,
    *,
    waba_id="102290129340398",
    display_phone_number="15550001111",
    timestamp=None,
    errors=None,
):
    """A receipt for one of our messages: sent, delivered, read or failed (with errors)."""
    payload = whatsapp_status_payload(
        waba_id,
        phone_number_id,
        display_phone_number,
        message_id,
        status,
        recipient_id,
        timestamp=timestamp,
        errors=errors,
    )
    return meta_json(app_secret, payload)


# -- Messenger and Instagram ---------------------------------------------------------------


def messaging_envelope(object_, entry_id, event, *, time_ms=None):
    time_ms = int(time_ms or time.time() * 1000)
    return {"object": object_, "entry": [{"id": entry_id, "time": time_ms, "messaging": [event]}]}


def messaging_message_event(
    sender_id, recipient_id, text=None, attachments=None, *, mid=None, time_ms=None, echo=None
):
    message = {"mid": mid or new_mid()}
    if echo:
        message["is_echo"] = True
        message.update(echo)
    if text is not None:
        message["text"] = text
    if attachments:
        message["attachments"] = [
            a if isinstance(a, dict) else {"type": a[0], "payload": {"url": a[1]}}
            for a in attachments
        ]
    return {
        "sender": {"id": sender_id},
        "recipient": {"id": recipient_id},
        "timestamp": int(time_ms or time.time() * 1000),
        "message": message,
    }


def messenger_message(
    app_secret, page_id, psid, text=None, attachments=None, *, mid=None, time_ms=None
):
    """A customer's Messenger message; attachments: [(type, url)] or attachment dicts."""
    event = messaging_message_event(psid, page_id, text, attachments, mid=mid, time_ms=time_ms)
    return meta_json(
        app_secret,
        messaging_envelope("page", page_id, event, time_ms=time_ms),
        legacy_signature=True,
    )


def instagram_message(
    app_secret, instagram_account_id, igsid, text=None, attachments=None, *, mid=None, time_ms=None
):
    """A customer's Instagram direct message (entry id: the Instagram account id)."""
    event = messaging_message_event(
        igsid, instagram_account_id, text, attachments, mid=mid, time_ms=time_ms
    )
    payload = messaging_envelope("instagram", instagram_account_id, event, time_ms=time_ms)
    return meta_json(app_secret, payload, legacy_signature=True)


def messenger_delivery(app_secret, page_id, psid, mids, watermark_ms):
    event = {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": int(time.time() * 1000),
        "delivery": {"mids": list(mids), "watermark": int(watermark_ms)},
    }
    return meta_json(app_secret, messaging_envelope("page", page_id, event), legacy_signature=True)


def messenger_read(app_secret, page_id, psid, watermark_ms):
    event = {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": int(time.time() * 1000),
        "read": {"watermark": int(watermark_ms)},
    }
    return meta_json(app_secret, messaging_envelope("page", page_id, event), legacy_signature=True)


def instagram_read(app_secret, instagram_account_id, igsid, mid):
    event = {
        "sender": {"id": igsid},
        "recipient": {"id": instagram_account_id},
        "timestamp": int(time.time() * 1000),
        "read": {"mid": mid},
    }
    payload = messaging_envelope("instagram", instagram_account_id, event)
    return meta_json(app_secret, payload, legacy_signature=True)


# -- Telegram ------------------------------------------------------------------------------


def telegram_user(chat_id, first_name="Ana", username=None, language_code="es"):
    user = {"id": int(chat_id), "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def telegram_update_payload(
    update_id,
    chat_id,
    text=None,
    photo=None,
    *,
    document=None,
    caption=None,
    message_id=1,
    first_name="Ana",
    username=None,
    date=None,
    edited=False,
):
    user = telegram_user(chat_id, first_name, username)
    chat = {"id": int(chat_id), "type": "private", "first_name": first_name}
    if username:
        chat["username"] = username
    message = {
        "message_id": int(message_id),
        "from": user,
        "chat": chat,
        "date": int(date or _now()),
    }
    if edited:
        message["edit_date"] = _now()
    if photo is not None:
        message["photo"] = photo if isinstance(photo, list) else [photo]
    if document is not None:
        message["document"] = document
    if photo is not None or document is not None:
        if caption or text:
            message["caption"] = caption or text
    elif text is not None:
        message["text"] = text
    return {"update_id": int(update_id), ("edited_message" if edited else "message"): message}


def telegram_update(secret_token, update_id, chat_id, text=None, photo=None, **fields):
    """An update as the Bot API posts it to a webhook. `photo`: a PhotoSize dict or list."""
    payload = telegram_update_payload(update_id, chat_id, text, photo, **fields)
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if secret_token:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
    return body, headers


# -- Twilio --------------------------------------------------------------------------------


def twilio_message_params(
    From,  # noqa: N803 - Twilio's own field names
    To,  # noqa: N803
    Body,  # noqa: N803
    *,
    account_sid,
    media_urls=(),
    media_types=(),
    message_sid=None,
    profile_name=None,
    opt_out_type=None,
    messaging_service_sid=None,
):
    sid = message_sid or new_twilio_sid("MM" if media_urls else "SM")
    params = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media_urls)),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": Body,
        "FromCountry": "US",
        "To": To,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": From,
        "ApiVersion": "2010-04-01",
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    for n, url in enumerate(media_urls):
        params[f"MediaUrl{n}"] = url
        params[f"MediaContentType{n}"] = media_types[n] if n < len(media_types) else "image/jpeg"
    if From.startswith("whatsapp:"):
        params["ProfileName"] = profile_name or "Customer"
        params["WaId"] = From.removeprefix("whatsapp:").lstrip("+")
        params["MessageType"] = "image" if media_urls else "text"
        for name in ("ToCountry", "ToState", "ToCity", "FromZip", "FromState", "FromCity"):
            params.pop(name)
        params.pop("FromCountry")
        params.pop("ToZip")
    if opt_out_type:
        params["OptOutType"] = opt_out_type
    return params


def twilio_message(
    auth_token,
    url,
    From,  # noqa: N803
    To,  # noqa: N803
    Body="",  # noqa: N803
    media_urls=(),
    *,
    account_sid="AC" + "0" * 32,
    media_types=(),
    message_sid=None,
    profile_name=None,
    opt_out_type=None,
):
    """A customer's SMS/MMS/WhatsApp message posted to `url` (the signature covers it)."""
    params = twilio_message_params(
        From,
        To,
        Body,
        account_sid=account_sid,
        media_urls=media_urls,
        media_types=media_types,
        message_sid=message_sid,
        profile_name=profile_name,
        opt_out_type=opt_out_type,
    )
    return twilio_form(auth_token, url, params)


def sms_keyword_type(body):
    """ "STOP", "START" or "HELP" when `body` is one of Twilio's single-word keywords."""
    word = (body or "").strip().upper()
    if word in SMS_OPT_OUT:
        return "STOP"
    if word in SMS_OPT_IN:
        return "START"
    if word in SMS_HELP:
        return "HELP"
    return None


def twilio_keyword(
    auth_token,
    url,
    From,  # noqa: N803
    To,  # noqa: N803
    keyword="STOP",
    *,
    account_sid="AC" + "0" * 32,
    message_sid=None,
):
    """A STOP/START/HELP keyword message with Advanced Opt-Out's OptOutType."""
    return twilio_message(
        auth_token,
        url,
        From,
        To,
        keyword,
        account_sid=account_sid,
        message_sid=message_sid,
        opt_out_type=sms_keyword_type(keyword),
    )


def twilio_status(
    auth_token,
    url,
    message_sid,
    status,
    From,  # noqa: N803
    To,  # noqa: N803
    *,
    account_sid="AC" + "0" * 32,
    error_code=None,
):
    """A status callback for one of our messages (queued, sent, delivered, read, failed…)."""
    params = {
        "SmsSid": message_sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": To,
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": From,
        "ApiVersion": "2010-04-01",
    }
    if To.startswith("whatsapp:"):
        params["ChannelPrefix"] = "whatsapp"
    if error_code:
        params["ErrorCode"] = str(error_code)
    return twilio_form(auth_token, url, params)
