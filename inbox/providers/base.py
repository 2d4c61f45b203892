"""What every provider adapter does. One module per provider implements it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SendResult:
    """What the provider answered to a send: its id for the message, when it gives one."""

    external_id: str | None = None


class ProviderAdapter:
    kind = ""
    # True when "sending" means pushing the message to the customer's live session
    # (our own website widget) rather than calling a provider's API.
    delivers_through_live_events = False

    def __init__(self, inbox):
        self.inbox = inbox

    def send_message(self, message):
        raise NotImplementedError
