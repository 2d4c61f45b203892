from inbox.providers.telegram import TelegramAdapter
from inbox.providers.twilio import TwilioSmsAdapter, TwilioWhatsAppAdapter
from inbox.providers.web_widget import WebWidgetAdapter

ADAPTERS = {
    adapter.kind: adapter
    for adapter in (
        WebWidgetAdapter,
        TelegramAdapter,
        TwilioSmsAdapter,
        TwilioWhatsAppAdapter,
    )
}


def adapter_for(inbox):
    try:
        return ADAPTERS[inbox.kind](inbox)
    except KeyError as exc:
        raise LookupError(f"No provider adapter for inbox kind {inbox.kind!r}") from exc
