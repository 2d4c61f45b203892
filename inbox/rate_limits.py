"""Send rates per provider: how long a message must wait before it may go out.

Counters live in the cache (Redis when configured, so every worker shares them). They are
safe to lose: a lost counter lets at most one extra message through a second early.
"""

import time

from django.core.cache import cache


def wait_before_send(adapter, message, now=None):
    """Seconds to wait before this message may be sent (0: send now).

    Reserves the slot when it returns 0, so two workers do not both take it.
    """
    now = time.time() if now is None else now
    interval = adapter.min_interval_per_chat
    if interval:
        key = f"send-rate:chat:{message.conversation_id}"
        last = cache.get(key)
        if last is not None and now - last < interval:
            return interval - (now - last)
    limit = adapter.max_per_second
    if limit:
        window = f"send-rate:inbox:{message.inbox_id}:{int(now)}"
        cache.add(window, 0, timeout=5)
        try:
            used = cache.incr(window)
        except ValueError:  # expired between add and incr
            cache.add(window, 1, timeout=5)
            used = 1
        if used > limit:
            return 1.0 - (now - int(now))
    if interval:
        cache.set(f"send-rate:chat:{message.conversation_id}", now, timeout=max(60, interval * 2))
    return 0.0
