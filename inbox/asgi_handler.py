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

Django's handler also goes to the thread three times for a request: to send
`request_started`, to run the middleware chain and the view, and to close the response
(which sends `request_finished`) after it is sent. Every trip wakes a thread and the event
loop again; under a stream of webhooks those wake-ups were a fifth of the server's
interpreter time. Here one trip does all three. A response that is not streamed is
complete once the view returns, so it is closed before its bytes go out; a streamed one
(a file) is closed after it is sent, as before.
"""

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix


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
        # The chain as under WSGI: `respond` runs it in the request's thread.
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = await self._idle_threads.get()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            self._idle_threads.put_nowait(thread)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        disconnected = asyncio.create_task(self.listen_for_disconnect(receive))
        try:
            # Awaited even when the client has gone: the view runs to its end in its thread
            # regardless, and the thread is not handed to another request before then.
            response = await sync_to_async(self.respond, thread_sensitive=True)(scope, body_file)
            if not disconnected.done():
                await _unless(disconnected, self.send_response(response, send))
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            disconnected.cancel()
            with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                await disconnected
            body_file.close()

    def respond(self, scope, body_file):
        """A request's synchronous part, in its thread: the response, closed unless it is
        streamed."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()
        return response


async def _unless(disconnected, work):
    """Await `work` unless the client disconnects first; then cancel it."""
    task = asyncio.create_task(work)
    await asyncio.wait({task, disconnected}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
