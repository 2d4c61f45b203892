"""What the fault tests share: deliveries as a provider posts them, and the final count."""

import threading
from collections import Counter

import httpx

from inbox.sandbox import payloads

# The provider took the message (receipts may already have moved it on).
TAKEN = ("sent", "delivered", "read")


def whatsapp_delivery(stack, customer, text):
    """A customer's WhatsApp message, signed as Meta signs it: (url, body, headers)."""
    account = stack.workspace["whatsapp"]
    body, headers = payloads.whatsapp_message(
        account["app_secret"],
        account["phone_number_id"],
        customer,
        text=text,
        waba_id=account["waba_id"],
        display_phone_number=account["display_phone_number"],
    )
    return account["webhook_url"], body, headers


def post(url, body, headers, timeout=30):
    """POST a delivery; the status code, or the transport error's name."""
    try:
        return httpx.post(url, content=body, headers=headers, timeout=timeout).status_code
    except httpx.HTTPError as error:
        return error.__class__.__name__


def post_at_once(url, body, headers, copies):
    """The same delivery `copies` times, all at the same moment: their answers."""
    answers = [None] * copies
    start = threading.Barrier(copies)

    def send(i):
        start.wait()
        answers[i] = post(url, body, headers)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def lost_and_duplicated(expected, stored):
    """Count over texts: expected but never stored (lost), stored more than once."""
    counts = Counter(stored)
    return {
        "lost": sum(1 for text in set(expected) if counts[text] == 0),
        "duplicated": sum(n - 1 for n in counts.values() if n > 1),
    }


def bodies(messages):
    return [m["body"] for m in messages]


def telegram_conversation(stack, sandbox, chat_id, text):
    """A Telegram customer writes to the demo bot through the webhook: the conversation."""
    sandbox.telegram_customer_writes(stack.workspace["telegram"]["bot_token"], chat_id, text)
    [message] = stack.wait_for("inbound", prefix=text)
    return message["conversation"]


def whatsapp_conversation(stack, sandbox, customer, text):
    """A WhatsApp customer writes in through the webhook: the conversation."""
    sandbox.whatsapp_customer_writes(stack.workspace["whatsapp"]["phone_number_id"], customer, text)
    [message] = stack.wait_for("inbound", prefix=text)
    return message["conversation"]


def outbound_lost_and_duplicated(replies, times_taken):
    """Count over replies (dicts from the `outbound` op): lost when left queued or sending
    with nobody to finish it, or shown as taken although the provider never took it;
    duplicated when the provider took it more than once."""
    lost = duplicated = 0
    for reply in replies:
        times = times_taken(reply["body"])
        if reply["status"] in ("queued", "sending") or (reply["status"] in TAKEN and not times):
            lost += 1
        if times > 1:
            duplicated += 1
    return {"lost": lost, "duplicated": duplicated}
