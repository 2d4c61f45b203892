"""The website widget: our own channel. The visitor's socket is the delivery route."""

from inbox.providers.base import ProviderAdapter, SendResult


class WebWidgetAdapter(ProviderAdapter):
    kind = "web_widget"
    delivers_through_live_events = True

    def send_message(self, message):
        # Nothing leaves the building: the service publishes the message to the visitor's
        # group when it marks it sent, and the visitor's widget catches up from the
        # event log if it was closed.
        return SendResult(external_id=None)
