"""HTTP under ASGI: a request's synchronous work is done in one hop to one of the server's
request threads, which are kept from request to request."""

import asyncio
import threading
import time

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync, async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.decorators import login_not_required
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished, request_started
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import include
from django.urls import path as url_path

from inbox.asgi_handler import OneHopASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


def get(handler, path, monkeypatch):
    """GET `path` through `handler` as daphne would; returns the status and how many times
    the request's thread handed work back to the event loop."""
    status, trips = trips_for(handler, path, monkeypatch)
    return status, trips["to_the_loop"]


def trips_for(handler, path, monkeypatch):
    """GET `path` through `handler`; returns the status and how many times work went from
    the event loop to a thread and back."""
    trips = {"to_a_thread": 0, "to_the_loop": 0}
    to_the_loop, to_a_thread = AsyncToSync.__call__, SyncToAsync.__call__

    def counted_to_the_loop(self, *args, **kwargs):
        trips["to_the_loop"] += 1
        return to_the_loop(self, *args, **kwargs)

    def counted_to_a_thread(self, *args, **kwargs):
        trips["to_a_thread"] += 1
        return to_a_thread(self, *args, **kwargs)

    async def counted_request():
        monkeypatch.setattr(AsyncToSync, "__call__", counted_to_the_loop)
        monkeypatch.setattr(SyncToAsync, "__call__", counted_to_a_thread)
        return await request(handler, path)

    status = async_to_sync(counted_request)()
    monkeypatch.undo()
    return status, trips


def get_scope(path):
    """A GET of `path` as daphne describes it."""
    return {
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


async def request(handler, path):
    """One GET through `handler` as daphne would send it; returns the status."""
    status, _body = await body_of(handler, path)
    return status


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


def test_a_request_s_signals_and_view_are_one_trip_to_its_thread(monkeypatch):
    # request_started, the middleware chain with the view, and the response's close (which
    # sends request_finished): one trip, where Django's own handler takes three.
    status, trips = trips_for(OneHopASGIHandler(), "/accounts/login/", monkeypatch)
    assert (status, trips["to_a_thread"]) == (200, 1)
    status, trips = trips_for(ASGIHandler(), "/accounts/login/", monkeypatch)
    assert status == 200
    assert trips["to_a_thread"] >= 3


@login_not_required
def streamed_view(request):
    async def parts():
        journal.append("body sent")
        yield b"first part, "
        yield b"second part"

    return StreamingHttpResponse(parts())


@login_not_required
def plain_view(request):
    return HttpResponse(b"whole")


slow_view_may_end = threading.Event()


@login_not_required
def slow_view(request):
    slow_view_may_end.wait(10)
    journal.append("slow view ended")
    return HttpResponse(b"late")


journal = []
urlpatterns = [
    url_path("streamed/", streamed_view),
    url_path("plain/", plain_view),
    url_path("slow/", slow_view),
    url_path("", include("inbox.urls")),
]


@pytest.fixture
def served_here(settings):
    """The two views above added to the site, and a journal of what happens in order."""
    settings.ROOT_URLCONF = __name__
    journal.clear()

    def finished(**kwargs):
        journal.append("request finished")

    request_finished.connect(finished)
    yield journal
    request_finished.disconnect(finished)


async def body_of(handler, path):
    """One GET through `handler` as daphne would send it; returns the status and body."""
    communicator = ApplicationCommunicator(handler, get_scope(path))
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(10)
    body = b""
    while True:
        message = await communicator.receive_output(10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(10)
    return start["status"], body


def test_a_response_built_whole_is_closed_in_the_same_trip_before_it_is_sent(served_here):
    assert async_to_sync(body_of)(OneHopASGIHandler(), "/plain/") == (200, b"whole")
    assert served_here == ["request finished"]


def test_a_streamed_response_is_closed_only_once_all_of_it_is_sent(served_here):
    status, body = async_to_sync(body_of)(OneHopASGIHandler(), "/streamed/")
    assert (status, body) == (200, b"first part, second part")
    assert served_here == ["body sent", "request finished"]


def test_a_client_gone_before_the_response_is_sent_nothing_and_its_request_still_ends(
    served_here,
):
    handler = OneHopASGIHandler()

    async def gone_at_once():
        communicator = ApplicationCommunicator(handler, get_scope("/plain/"))
        await communicator.send_input({"type": "http.request", "body": b""})
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(10)
        sent = []
        while not communicator.output_queue.empty():
            sent.append(await communicator.receive_output(1))
        return sent

    sent = async_to_sync(gone_at_once)()
    # The view ran on in its thread and its response was closed there.
    deadline = time.monotonic() + 5
    while "request finished" not in served_here and time.monotonic() < deadline:
        time.sleep(0.01)
    assert served_here == ["request finished"]
    assert sent == []


def test_a_client_gone_mid_view_keeps_its_thread_until_the_view_has_ended(served_here):
    # The view runs on in the request's thread; the handler does not give that thread to
    # another request before then.
    handler = OneHopASGIHandler(threads=1)
    slow_view_may_end.clear()

    async def gone_mid_view():
        communicator = ApplicationCommunicator(handler, get_scope("/slow/"))
        await communicator.send_input({"type": "http.request", "body": b""})
        await communicator.send_input({"type": "http.disconnect"})
        await asyncio.sleep(0.3)
        still_serving = not communicator.future.done()
        slow_view_may_end.set()
        await communicator.wait(10)
        return still_serving

    assert async_to_sync(gone_mid_view)()
    assert served_here == ["slow view ended", "request finished"]
