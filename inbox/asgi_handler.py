"""Django's ASGI handler, with a request's synchronous work done in one hop to a thread.

Every view and middleware in Switchboard is synchronous. Django's ASGI handler still ends
its middleware chain with the asynchronous view caller, so a request went to the thread
for the middlewares, back to the event loop for the view caller, to the thread again for
the view, and back twice on the way out. Here the chain is built as under WSGI and called
in the thread once: the same thread (`thread_sensitive`), so requests keep running one at
a time in it as before, and an asynchronous view would still work (Django's synchronous
chain calls one through `async_to_sync`).
"""

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class OneHopASGIHandler(ASGIHandler):
    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
