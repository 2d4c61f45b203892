from inbox.providers.email import EmailAdapter
from inbox.providers.messenger import InstagramAdapter, MessengerAdapter
from inbox.providers.telegram import TelegramAdapter
from inbox.providers.twilio import TwilioSmsAdapter, TwilioWhatsAppAdapter
from inbox.providers.web_widget import WebWidgetAdapter
from inbox.providers.whatsapp import WhatsAppAdapter

ADAPTERS = {
    adapter.kind: adapter
    for adapter in (
        WebWidgetAdapter,
        WhatsAppAdapter,
        MessengerAdapter,
        InstagramAdapter,
        TelegramAdapter,
        TwilioSmsAdapter,
        TwilioWhatsAppAdapter,
        EmailAdapter,
    )
}


def adapter_for(inbox):
    try:
        return ADAPTERS[inbox.kind](inbox)
    except KeyError as exc:
        raise LookupError(f"No provider adapter for inbox kind {inbox.kind!r}") from exc
