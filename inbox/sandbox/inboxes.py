"""Switchboard's inboxes as sandbox accounts (Django side; the server itself needs none)."""

import logging
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)


def settings_for_sandbox(sandbox_url, smtp_port=None):
    """The environment that points every channel of Switchboard at a running sandbox:
    the providers' base URLs and, with `smtp_port`, outgoing mail to its SMTP server."""
    sandbox_url = sandbox_url.rstrip("/")
    values = {
        "WHATSAPP_GRAPH_URL": f"{sandbox_url}/graph",
        "MESSENGER_GRAPH_URL": f"{sandbox_url}/graph",
        "TELEGRAM_API_URL": f"{sandbox_url}/telegram",
        "TWILIO_API_URL": f"{sandbox_url}/twilio",
        "SANDBOX_URL": sandbox_url,
    }
    if smtp_port:
        values["EMAIL_HOST"] = urlsplit(sandbox_url).hostname
        values["EMAIL_PORT"] = str(smtp_port)
        values["EMAIL_USE_TLS"] = "0"
    return values


def webhook_url(inbox):
    return f"{settings.PUBLIC_URL}/webhooks/{inbox.kind}/{inbox.public_token}/"


def account_for(inbox):
    """(provider, fields) registering `inbox` on the sandbox, or None for other kinds."""
    config, secrets = inbox.provider_config or {}, inbox.provider_secrets or {}
    url = webhook_url(inbox)
    if inbox.kind == "whatsapp":
        return "whatsapp", {
            "phone_number_id": config["phone_number_id"],
            "waba_id": config["waba_id"],
            "access_token": secrets["access_token"],
            "app_secret": secrets["app_secret"],
            "webhook_url": url,
            "display_phone_number": config.get("display_phone_number") or "15550001111",
        }
    if inbox.kind in ("messenger", "instagram"):
        fields = {
            "page_id": config["page_id"],
            "page_token": secrets["page_token"],
            "app_secret": secrets["app_secret"],
            "webhook_url": url,
        }
        if inbox.kind == "instagram":
            fields["instagram_account_id"] = config.get("instagram_account_id") or ""
        return inbox.kind, fields
    if inbox.kind == "telegram":
        fields = {"bot_token": secrets["bot_token"], "username": config.get("bot_username")}
        if config.get("mode", "webhook") == "webhook":
            fields["webhook_url"] = url
            fields["secret_token"] = secrets.get("secret_token") or None
        return "telegram", fields
    if inbox.kind in ("twilio_sms", "twilio_whatsapp"):
        return "twilio", {
            "account_sid": config["account_sid"],
            "auth_token": secrets["auth_token"],
            "numbers": {config["from_number"]: url},
        }
    return None


def register_active_inboxes(sandbox, seen=None):
    """Register every active provider inbox; `seen` (a dict kept between calls) skips
    inboxes whose settings did not change. Returns the names registered this time."""
    from inbox.models import Inbox

    seen = {} if seen is None else seen
    registered = []
    for inbox in Inbox.objects.filter(is_active=True).order_by("pk"):
        try:
            account = account_for(inbox)
        except KeyError as missing:
            logger.warning("sandbox: inbox %r lacks the setting %s", inbox.name, missing)
            continue
        if account is None or seen.get(inbox.pk) == account:
            continue
        provider, fields = account
        sandbox.add_account(provider, **fields)
        seen[inbox.pk] = account
        registered.append(inbox.name)
    return registered
