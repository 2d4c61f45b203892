"""Django's ASGI handler, with a request's synchronous work done in one hop to a thread,
and the threads kept from request to request.

Every view and middleware in Switchboard is synchronous. Django's ASGI handler still ends
its middleware chain with the asynchronous view caller, so a request went to the thread
for the middlewares, back to the event loop for the view caller, to the thread again for
the view, and back twice on the way out. Here the chain is built as under WSGI and called
in the thread once (an asynchronous view would still work: Django's synchronous chain
calls one through `async_to_sync`).

Django also starts a new thread for every request (a `ThreadSensitiveContext` of its own)
and another to join it afterwards. Here a request borrows one of a fixed set of threads
for all of its synchronous work and gives it back when its response is sent, as a WSGI
server's threads are reused. Requests wait for a free thread beyond that many at once,
which also bounds how many compete with the event loop for the interpreter.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, threads=None):
        super().__init__()
        count = threads or settings.ASGI_REQUEST_THREADS
        self.request_threads = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{n}")
            for n in range(count)
        ]
        self._idle_threads = asyncio.Queue()
        for thread in self.request_threads:
            self._idle_threads.put_nowait(thread)

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = await self._idle_threads.get()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            self._idle_threads.put_nowait(thread)
