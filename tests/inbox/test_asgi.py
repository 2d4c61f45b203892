"""HTTP under ASGI: a request's synchronous work is done in one hop to one of the server's
request threads, which are kept from request to request."""

import asyncio
import threading
import time

import pytest
from asgiref.sync import AsyncToSync, async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_started

from inbox.asgi_handler import OneHopASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


def get(handler, path, monkeypatch):
    """GET `path` through `handler` as daphne would; returns the status and how many times
    the request's thread handed work back to the event loop."""
    back_to_the_loop = []
    real_call = AsyncToSync.__call__

    def counted(self, *args, **kwargs):
        back_to_the_loop.append(self.awaitable)
        return real_call(self, *args, **kwargs)

    async def counted_request():
        monkeypatch.setattr(AsyncToSync, "__call__", counted)
        return await request(handler, path)

    status = async_to_sync(counted_request)()
    monkeypatch.undo()
    return status, len(back_to_the_loop)


async def request(handler, path):
    """One GET through `handler` as daphne would send it; returns the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(handler, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(10)
    await communicator.receive_output(10)
    return start["status"]


@pytest.fixture
def request_threads_seen():
    """The thread each request started on, and the most requests running at once."""
    seen = {"threads": [], "running": 0, "most_at_once": 0}
    lock = threading.Lock()

    def started(**kwargs):
        with lock:
            seen["threads"].append(threading.current_thread().name)
            seen["running"] += 1
            seen["most_at_once"] = max(seen["most_at_once"], seen["running"])
        time.sleep(0.05)  # long enough for the other requests to arrive meanwhile
        with lock:
            seen["running"] -= 1

    request_started.connect(started)
    yield seen
    request_started.disconnect(started)


def test_a_request_goes_to_the_thread_once_and_comes_back_with_its_response(monkeypatch):
    assert get(OneHopASGIHandler(), "/accounts/login/", monkeypatch) == (200, 0)


def test_django_s_own_handler_would_go_back_to_the_event_loop_for_the_view(monkeypatch):
    # What the handler is for: Django's ends the chain with the asynchronous view caller.
    status, back_to_the_loop = get(ASGIHandler(), "/accounts/login/", monkeypatch)
    assert (status, back_to_the_loop) == (200, 1)


def test_requests_reuse_the_server_s_request_threads_instead_of_starting_new_ones(
    request_threads_seen,
):
    handler = OneHopASGIHandler(threads=2)
    statuses = [async_to_sync(request)(handler, "/accounts/login/") for _ in range(5)]
    assert statuses == [200] * 5
    assert len(request_threads_seen["threads"]) == 5
    assert set(request_threads_seen["threads"]) <= {"request-0_0", "request-1_0"}


def test_more_requests_at_once_than_threads_wait_for_a_free_one(request_threads_seen):
    handler = OneHopASGIHandler(threads=2)

    async def six_at_once():
        return await asyncio.gather(*(request(handler, "/accounts/login/") for _ in range(6)))

    assert async_to_sync(six_at_once)() == [200] * 6
    assert request_threads_seen["most_at_once"] == 2
    assert set(request_threads_seen["threads"]) == {"request-0_0", "request-1_0"}
