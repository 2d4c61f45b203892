"""HTTP under ASGI: a request's synchronous work is done in one hop to the server's thread."""

import pytest
from asgiref.sync import AsyncToSync, async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core.handlers.asgi import ASGIHandler

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

    async def request():
        monkeypatch.setattr(AsyncToSync, "__call__", counted)
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

    status = async_to_sync(request)()
    monkeypatch.undo()
    return status, len(back_to_the_loop)


def test_a_request_goes_to_the_thread_once_and_comes_back_with_its_response(monkeypatch):
    assert get(OneHopASGIHandler(), "/accounts/login/", monkeypatch) == (200, 0)


def test_django_s_own_handler_would_go_back_to_the_event_loop_for_the_view(monkeypatch):
    # What the handler is for: Django's ends the chain with the asynchronous view caller.
    status, back_to_the_loop = get(ASGIHandler(), "/accounts/login/", monkeypatch)
    assert (status, back_to_the_loop) == (200, 1)
